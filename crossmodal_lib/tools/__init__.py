"""Optional tools with heavy or optional dependencies, each imported inside its functions.

``keras_models``  Part 4's corrected models in Keras 3 on the PyTorch backend (needs ``keras``)
"""
