"""ddpm_from_scratch: the package behind the book *Diffusion models from scratch*.

Each module is the backbone of a chapter; its docstring says which one.

Time convention (stated once, used everywhere): there are ``T`` noising steps and the
step index ``t`` runs ``0 .. T-1`` in code. ``t = 0`` is the first noising step (the
lecture's "step 1"), and ``t = T-1`` the last (its "step 1000"). ``x_t`` is the image
*after* step ``t``; ``t = -1`` stands for the clean image (``alpha_bar = 1``). The book's
formulas count like the lecture and the DDPM paper, steps 1 .. T with x_0 the clean image:
code step ``t`` is formula step ``t + 1``.
"""

__version__ = "0.1.0"
