"""Shared by the jet foundation-model examples (not an example itself): JAX's persistent
compilation cache for the length of a run."""

import contextlib

import jax


@contextlib.contextmanager
def compilation_cache():
    """Reuse compiled training steps: every fine-tune of a learning curve compiles the same
    program (same shapes, new weights), so JAX's persistent cache turns all but the first
    compilation of each strategy into a lookup, in this run and in later ones. The previous
    settings come back afterwards (``hepjax demo`` runs other examples in the same process)."""
    from hepjax.data.collider import default_cache_dir

    old = (
        jax.config.jax_compilation_cache_dir,
        jax.config.jax_persistent_cache_min_compile_time_secs,
    )
    if old[0] is None:
        jax.config.update("jax_compilation_cache_dir", str(default_cache_dir() / "jax-cache"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    try:
        yield
    finally:
        jax.config.update("jax_compilation_cache_dir", old[0])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", old[1])
