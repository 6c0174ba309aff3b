"""The chapter 03 exercise checkers accept right answers and reject wrong ones, with a helpful message."""

import re

from ddpm_from_scratch.exercises import ch03


def tokenize(text, vocabulary, max_length, lower=True, punctuation=True, truncate=True, start=True):
    words = (text.lower() if lower else text)
    words = re.findall(r"[a-z0-9]+", words) if punctuation else words.split()
    ids = ([vocabulary["<start>"]] if start else []) + [vocabulary.get(w, vocabulary["<unk>"]) for w in words]
    ids = ids[:max_length] if truncate else ids
    return ids + [0] * (max_length - len(ids))


def test_a_right_tokenizer_passes(capsys):
    assert ch03.check_tokenize(tokenize)
    assert "Right" in capsys.readouterr().out


def test_usual_tokenizer_mistakes_fail_with_a_hint(capsys):
    for mistake, hint in [("lower", "lower-case"), ("punctuation", "punctuation"), ("start", "<start>")]:
        assert not ch03.check_tokenize(lambda t, v, m: tokenize(t, v, m, **{mistake: False}))
        assert hint in capsys.readouterr().out
    assert not ch03.check_tokenize(lambda t, v, m: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out


def test_a_tokenizer_that_does_not_truncate_fails():
    assert not ch03.check_tokenize(lambda t, v, m: tokenize(t, v, m, truncate=False))


def test_guidance_checker(capsys):
    assert ch03.check_guidance(lambda c, u, w: u + w * (c - u))
    assert "Right" in capsys.readouterr().out
    assert not ch03.check_guidance(lambda c, u, w: c + w * (c - u))
    assert "unconditional" in capsys.readouterr().out.lower()
    assert not ch03.check_guidance(lambda c, u, w: w * c)
    assert not ch03.check_guidance(lambda c, u, w: (u + w * (c - u))[0])
    assert "shaped like" in capsys.readouterr().out
