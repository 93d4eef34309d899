"""pacgan-lite: a Jupyter-first teaching and reproducibility kit for PACGAN.

PACGAN (Lai, Marzi, Citi, Diciotti, Sci. Rep. 15:34241, 2025) joins a progressive-growing GAN with an
auxiliary classifier to synthesize 256x256 axial T1 brain MR slices of Alzheimer's patients and controls.
"""

__version__ = "0.1.0"
