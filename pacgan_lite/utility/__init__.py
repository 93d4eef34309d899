"""Does synthetic data help? A plain classifier trained with and without the generator's images.

PACGAN is motivated by scarce and imbalanced medical data and judged by its critic's AUC. This package
tests both claims on one run: a standard classifier (MONAI's 2D ResNet, :mod:`.classifier`) is trained on
real images, on synthetic images only, on both, and on an artificially imbalanced real set rebalanced with
synthetic images or by oversampling (:mod:`.settings`), each over several seeds, and the critic itself is
scored in the paper's final protocol (:mod:`.critic`). Everything is scored on the same real test images,
with intervals and a paired comparison against the real training images (:mod:`.report`).

Modules: :mod:`.datasets` (real splits, generated pools, imbalance, oversampling), :mod:`.augmentation`,
:mod:`.classifier`, :mod:`.settings`, :mod:`.critic`, :mod:`.report`, :mod:`.figures`, :mod:`.reading`, :mod:`.options`,
:mod:`.run` (the driver, ``pacgan-lite utility``).
"""

from .run import UtilityResult, run_utility

__all__ = ["UtilityResult", "run_utility"]
