"""Auto-checked exercises: pass your answer, get feedback (book: the exercises of each part).

Each ``check_*`` function returns a :class:`Feedback` that is truthy when the answer is
right and whose message says *why* when it is not -- pointing at the usual mistake where
one is recognisable. In a notebook the feedback displays itself. The checkers of Parts 1-3
live in ``crossmodal_lib.exercises.algorithms``, those of Parts 4-7.3c in
``crossmodal_lib.exercises.applications``, those of Part 7.3d-7.3g in ``crossmodal_lib.exercises.challenges`` and those of
Part 8 in ``crossmodal_lib.exercises.evaluation``; all are importable from here.
"""

from .algorithms import (GAN_P_DATA, GAN_P_G, POE_EXPERTS, check_chance_map, check_chance_recall, check_gan_optimum, check_info_nce,
                         check_late_fusion, check_product_of_experts, check_slant)
from .applications import (check_alpha_bar, check_attention_weights, check_causal_mask, check_class_recall, check_combination_chance, check_ctc_two_frames, check_dense_kernel, check_direction, check_hz_to_mel, check_int8_quantization,
                           check_infonce_bound, check_standard_error, check_vae_loss)
from .challenges import check_blind_copy, check_ink_left, check_pivot_hops, check_unpaired_coincidences
from .evaluation import check_difference_se, check_ranking_metrics
from .feedback import Feedback

__all__ = ["GAN_P_DATA", "GAN_P_G", "POE_EXPERTS", "Feedback", "check_alpha_bar", "check_attention_weights", "check_causal_mask", "check_ctc_two_frames", "check_chance_map", "check_difference_se", "check_chance_recall", "check_class_recall", "check_combination_chance", "check_dense_kernel",
           "check_blind_copy", "check_direction", "check_gan_optimum", "check_hz_to_mel", "check_ink_left", "check_info_nce", "check_int8_quantization", "check_infonce_bound",
           "check_late_fusion", "check_pivot_hops", "check_product_of_experts", "check_ranking_metrics", "check_slant", "check_standard_error", "check_unpaired_coincidences", "check_vae_loss"]
