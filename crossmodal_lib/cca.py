"""Canonical correlation analysis, the classical shared space (book: Part 3.1).

Hotelling (1936): linear maps of two paired views whose projections are maximally correlated
(eq-cca-objective). With whitened views the problem becomes an SVD (eq-cca-svd), solved here in
closed form in float64. :mod:`crossmodal_lib.embedding` re-exports :class:`LinearCCA`.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["LinearCCA"]


# --------------------------------------------------------------------------------------
# CCA
# --------------------------------------------------------------------------------------
def _inverse_sqrt(c: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(c)
    return vectors @ torch.diag(values.rsqrt()) @ vectors.T


class LinearCCA:
    """Canonical correlation analysis in closed form (book: Part 3.1, eq. (eq-cca-svd)).

    With centred data, covariances ``Cxx``, ``Cyy`` (plus ``reg * I``) and cross-covariance
    ``Cxy``, the SVD ``Cxx^{-1/2} Cxy Cyy^{-1/2} = U S V^T`` gives the projections
    ``Wx = Cxx^{-1/2} U_k`` and ``Wy = Cyy^{-1/2} V_k`` and the canonical correlations
    ``S_k``. Works in float64. ``fit(X [N, p], Y [N, q])``, then ``transform_x``, ``transform_y``
    or ``transform``. ``reg`` (ridge on both covariances) keeps the whitening stable when a
    view has (nearly) collinear features, as bag-of-words captions do.
    """

    def __init__(self, n_components: int, reg: float = 1e-3) -> None:
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        self.n_components, self.reg = n_components, reg

    def fit(self, X: torch.Tensor | np.ndarray, Y: torch.Tensor | np.ndarray) -> LinearCCA:
        X, Y = (torch.as_tensor(np.asarray(v), dtype=torch.float64) for v in (X, Y))
        if X.dim() != 2 or Y.dim() != 2 or len(X) != len(Y):
            raise ValueError(f"expected paired matrices [N, p] and [N, q], got {tuple(X.shape)} and {tuple(Y.shape)}")
        k = self.n_components
        if k > min(X.shape[1], Y.shape[1]) or len(X) < 2:
            raise ValueError(f"cannot extract {k} components from {tuple(X.shape)} and {tuple(Y.shape)}")
        self.mean_x, self.mean_y = X.mean(0), Y.mean(0)
        Xc, Yc = X - self.mean_x, Y - self.mean_y
        n = len(X) - 1
        cxx = Xc.T @ Xc / n + self.reg * torch.eye(X.shape[1], dtype=X.dtype)
        cyy = Yc.T @ Yc / n + self.reg * torch.eye(Y.shape[1], dtype=Y.dtype)
        cxy = Xc.T @ Yc / n
        kx, ky = _inverse_sqrt(cxx), _inverse_sqrt(cyy)
        U, S, Vh = torch.linalg.svd(kx @ cxy @ ky)
        self.Wx, self.Wy = kx @ U[:, :k], ky @ Vh.T[:, :k]
        self.correlations = S[:k]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "Wx"):
            raise RuntimeError("call fit() before transforming data")

    def transform_x(self, X: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Project the first view: ``[N, p] -> [N, k]`` canonical variates (float32)."""
        self._check_fitted()
        return ((torch.as_tensor(np.asarray(X), dtype=torch.float64) - self.mean_x) @ self.Wx).float()

    def transform_y(self, Y: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Project the second view: ``[N, q] -> [N, k]`` canonical variates (float32)."""
        self._check_fitted()
        return ((torch.as_tensor(np.asarray(Y), dtype=torch.float64) - self.mean_y) @ self.Wy).float()

    def transform(self, X: torch.Tensor | np.ndarray, Y: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """Both views at once: ``(transform_x(X), transform_y(Y))``."""
        return self.transform_x(X), self.transform_y(Y)
