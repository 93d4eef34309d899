"""Speed benchmark: the kit's training iteration against the reference's sequence of computations."""

from .cases import MODES, Case, Iteration, bench_config, time_case, time_generation
from .runner import BenchOptions, markdown, run_bench

__all__ = ["MODES", "BenchOptions", "Case", "Iteration", "bench_config", "markdown", "run_bench", "time_case",
           "time_generation"]
