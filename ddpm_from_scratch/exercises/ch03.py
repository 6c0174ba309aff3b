"""Checkers for the exercises of chapter 03 (text conditioning).

- ``check_tokenize(fn)``: the reader's ``fn(text, vocabulary, max_length) -> list[int]``:
  ids[0] is <start>, then one id per word (lower-cased, punctuation dropped), unknown words
  -> <unk>, padded with <pad> = 0 (or truncated) to exactly ``max_length``. Compared with
  ``nn.text.Tokenizer`` on texts chosen to catch the usual slips.
- ``check_guidance(fn)``: the reader's ``fn(eps_cond, eps_uncond, w) -> eps`` for
  classifier-free guidance, eps_uncond + w (eps_cond - eps_uncond), on random tensors and
  the special scales w = 0 and w = 1.

Each returns True or False and prints what is right or what is wrong; neither raises
because of the reader's code.
"""

import warnings

import torch

from ..nn.text import Tokenizer
from . import call_reader_function


_VOCABULARY = ("a", "big", "blue", "circle", "in", "left", "red", "small", "the", "top")
_CASES = [  # (text, max_length, what a wrong answer probably missed)
    ("a red circle", 8, "the basic case: <start> (id 2) first, one id per word, then <pad> (id 0) up to max_length"),
    ("A RED Circle", 8, "lower-case the text before looking words up"),
    ("top-left: a big, blue circle!", 10, "drop punctuation: split on anything that is not a letter or digit"),
    ("a purple circle", 8, "a word not in the vocabulary becomes <unk> (id 1)"),
    ("", 6, "the empty text is <start> alone, then padding"),
    ("a small red circle in the top left", 5, "truncate to max_length ids, <start> included"),
]


def check_tokenize(fn) -> bool:
    reference = {}
    for text, max_length, hint in _CASES:
        tokenizer = Tokenizer(_VOCABULARY, max_length)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the reference warns about unknown words and truncation
            expected = tokenizer(text)[0].tolist()
        reference[text] = expected
        got, error = call_reader_function(fn, (text, tokenizer.ids, max_length), f"text {text!r}")
        if error:
            print(error)
            return False
        try:
            got = [int(i) for i in got]
        except (TypeError, ValueError):
            print(f"Not yet: return a list of ints, got {type(got).__name__} for {text!r}.")
            return False
        if got != expected:
            print(f"Not yet: for {text!r} (max_length={max_length}) you returned {got}, expected {expected}.\n"
                  f"Hint: {hint}. The vocabulary maps {dict(list(tokenizer.ids.items())[:5])}, ...")
            return False
    print(f"Right: your tokenizer agrees with nn.text.Tokenizer on all {len(_CASES)} texts, "
          "including capitals, punctuation, unknown words, the empty text and truncation.")
    return True


def check_guidance(fn) -> bool:
    generator = torch.Generator().manual_seed(0)
    eps_cond, eps_uncond = torch.randn(4, 3, 8, 8, generator=generator), torch.randn(4, 3, 8, 8, generator=generator)
    for w in (0.0, 1.0, 3.0, 7.5):
        expected = eps_uncond + w * (eps_cond - eps_uncond)
        got, error = call_reader_function(fn, (eps_cond.clone(), eps_uncond.clone(), w), f"w = {w}")
        if error:
            print(error)
            return False
        if not isinstance(got, torch.Tensor) or got.shape != expected.shape:
            print(f"Not yet: return a tensor shaped like eps_cond {tuple(expected.shape)}, got "
                  f"{tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__}.")
            return False
        if not torch.allclose(got.float(), expected, atol=1e-5):
            if w == 0.0:
                hint = "at w = 0 guidance must give the UNconditional prediction: the text is ignored."
            elif w == 1.0:
                hint = "at w = 1 guidance must give the plain conditional prediction."
            elif torch.allclose(got.float(), eps_cond + w * (eps_cond - eps_uncond), atol=1e-5):
                hint = "you started from eps_cond; the formula starts from the unconditional prediction."
            else:
                hint = "compute eps_uncond + w * (eps_cond - eps_uncond)."
            print(f"Not yet: wrong result at w = {w}. {hint}")
            return False
    print("Right: eps_uncond + w (eps_cond - eps_uncond): w = 0 ignores the text, w = 1 is the conditional "
          "model, and w > 1 moves further in the direction the text points.")
    return True
