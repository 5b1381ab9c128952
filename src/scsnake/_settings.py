"""``ss.settings`` and ``ss.set_figure_params``: scanpy's global settings, the ones scsnake uses.

``n_jobs`` is the number of threads of scsnake's parallel functions: setting it sets numba's
thread count (``numba.set_num_threads``, capped at the ``NUMBA_NUM_THREADS`` numba started
with) and the BLAS/OpenMP thread pools (through threadpoolctl). ``-1`` (or None) uses every
core numba may use. The workflow gives each job its own ``threads`` instead.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from scsnake.errors import ParamError

__all__ = ["ScsnakeSettings", "set_figure_params", "settings"]

#: scanpy's verbosity levels → the level of the ``scsnake`` logger.
_LEVELS = {0: logging.ERROR, 1: logging.WARNING, 2: logging.INFO, 3: logging.INFO, 4: logging.DEBUG}
_NAMES = {"error": 0, "warning": 1, "info": 2, "hint": 3, "debug": 4}


class ScsnakeSettings:
    """Global settings with scanpy's names (``sc.settings``).

    Attributes
    ----------
    n_jobs
        Threads of the parallel functions (numba kernels and BLAS); -1 means all available.
    verbosity
        0 errors, 1 warnings, 2 info, 3 hints, 4 debug (or their names); sets the level of the
        ``scsnake`` logger.
    figdir, writedir, cachedir
        Where ``save=`` figures, ``ss.write(key, adata)`` files and reader caches go.
    datasetdir
        Where ``ss.datasets`` stores downloads (the same value as ``ss.datasets.settings.datadir``).
    file_format_data, file_format_figs
        Default extensions of written data and figures.
    autoshow, autosave
        Show plots by default; save plots by default.
    """

    def __init__(self) -> None:
        self._n_jobs = 1
        self._verbosity = 1
        self.figdir = Path("figures")
        self.writedir = Path("write")
        self.cachedir = Path(
            os.environ.get("SCSNAKE_CACHE_DIR", Path.home() / ".cache" / "scsnake" / "reads")
        )
        self.file_format_data: Literal["h5ad", "zarr"] = "h5ad"
        self.file_format_figs = "pdf"
        self.autoshow = True
        self.autosave = False
        self.cache_compression: Literal["gzip", "lzf"] | None = "lzf"
        self.max_memory = 15
        self.n_pcs = 50
        self.plot_suffix = ""
        self.categories_to_ignore = ["N/A", "dontknow", "no_gate", "?"]
        self._blas_limit: Any = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in {"figdir", "writedir", "cachedir"}:
            value = Path(value)
        super().__setattr__(name, value)

    @property
    def n_jobs(self) -> int:
        """Threads of scsnake's parallel functions (numba and BLAS)."""
        return self._n_jobs

    @n_jobs.setter
    def n_jobs(self, value: int | None) -> None:
        import numba

        available = numba.config.NUMBA_NUM_THREADS
        if value is None or value == -1:
            value = available
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            msg = f"settings.n_jobs={value!r}; expected a positive integer or -1 (all cores)"
            raise ParamError(msg)
        numba.set_num_threads(min(value, available))
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:  # pragma: no cover - threadpoolctl is a dependency
            pass
        else:
            self._blas_limit = threadpool_limits(limits=value)
        self._n_jobs = value

    @property
    def verbosity(self) -> int:
        """0 errors, 1 warnings, 2 info, 3 hints, 4 debug."""
        return self._verbosity

    @verbosity.setter
    def verbosity(self, value: int | str) -> None:
        level = _NAMES.get(value, value) if isinstance(value, str) else value
        if not isinstance(level, int) or isinstance(level, bool):
            msg = f"settings.verbosity={value!r}; expected 0-4 or one of {', '.join(_NAMES)}"
            raise ParamError(msg)
        level = max(0, min(level, 4))
        logging.getLogger("scsnake").setLevel(_LEVELS[level])
        self._verbosity = level

    @property
    def datasetdir(self) -> Path:
        """Where ``ss.datasets`` stores downloads (``ss.datasets.settings.datadir``)."""
        from scsnake.datasets import settings as dataset_settings

        return dataset_settings.datadir

    @datasetdir.setter
    def datasetdir(self, value: str | os.PathLike[str]) -> None:
        from scsnake.datasets import settings as dataset_settings

        dataset_settings.datadir = Path(value)

    def set_figure_params(
        self,
        *,
        scanpy: bool = True,
        dpi: int = 80,
        dpi_save: int = 150,
        frameon: bool = True,
        vector_friendly: bool = True,
        fontsize: int = 14,
        figsize: tuple[float, float] | None = None,
        color_map: str | None = None,
        format: str = "pdf",
        facecolor: str | None = None,
        transparent: bool = False,
        ipython_format: str | list[str] = "png2x",
    ) -> None:
        """Set matplotlib's figure defaults, as scanpy's ``set_figure_params``.

        Parameters
        ----------
        scanpy
            Apply scanpy's style (font sizes, no grid, a colour map).
        dpi, dpi_save
            Resolution of shown and saved figures.
        frameon
            Draw frames around embeddings.
        vector_friendly
            Rasterise dense scatter plots in vector output (stored for the plots).
        fontsize
            Base font size.
        figsize
            Default figure size in inches.
        color_map
            Default colour map.
        format
            Default format of saved figures (``settings.file_format_figs``).
        facecolor
            Background colour of figures and axes.
        transparent
            Save figures with a transparent background.
        ipython_format
            Accepted for scanpy's signature; scsnake does not configure IPython.
        """
        import matplotlib as mpl

        rc: dict[str, Any] = {"figure.dpi": dpi, "savefig.dpi": dpi_save, "savefig.transparent": transparent}
        if scanpy:
            rc |= {
                "font.size": fontsize,
                "legend.fontsize": 0.92 * fontsize,
                "axes.titlesize": fontsize,
                "axes.labelsize": fontsize,
                "xtick.labelsize": 0.92 * fontsize,
                "ytick.labelsize": 0.92 * fontsize,
                "axes.grid": False,
                "image.cmap": color_map or "viridis",
            }
        elif color_map is not None:
            rc["image.cmap"] = color_map
        if figsize is not None:
            rc["figure.figsize"] = figsize
        if facecolor is not None:
            rc |= {"figure.facecolor": facecolor, "axes.facecolor": facecolor}
        mpl.rcParams.update(rc)
        self.file_format_figs = format
        self._frameon = frameon
        self._vector_friendly = vector_friendly
        del ipython_format

    def __repr__(self) -> str:
        shown = (
            "n_jobs",
            "verbosity",
            "figdir",
            "writedir",
            "cachedir",
            "file_format_data",
            "file_format_figs",
        )
        return "ScsnakeSettings(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in shown) + ")"


settings = ScsnakeSettings()
set_figure_params = settings.set_figure_params
