"""Figure 4's sentences: computed from hand-made probabilities whose errors are known, and
changed by a flipped input."""

from __future__ import annotations

import numpy as np
import pytest

from rnnviz_lib.analysis import error_summary
from rnnviz_lib.errors import RnnvizError


def test_overlap_summary_counts_the_errors_of_the_last_model():
    # 2 x 5 = 10 symbols; an error is p < 0.5
    lstm = np.array([[0.1, 0.2, 0.9, 0.9, 0.9], [0.9, 0.9, 0.9, 0.9, 0.3]])  # errors at 3 symbols
    g3 = np.array([[0.9, 0.9, 0.9, 0.9, 0.9], [0.9, 0.9, 0.9, 0.9, 0.9]])  # none
    g20 = np.array([[0.1, 0.9, 0.2, 0.2, 0.9], [0.9, 0.9, 0.9, 0.9, 0.9]])  # 3 errors, 1 shared with the LSTM
    table, sentence = error_summary.overlap_summary(lstm, {"3-gram": g3, "20-gram": g20}, "lstm-3-64", "wp")
    assert table.loc["20-gram", ["both", "LSTM only", "other only"]].tolist() == [1, 2, 2]
    assert sentence == ("wp: of the 3 errors of lstm-3-64 (30.0% of symbols), the 20-gram model also makes 33%; "
                        "the 20-gram makes 3 errors, 20.0% of symbols that the LSTM gets right against 20.0% the "
                        "other way round.")
    # flipped: the last model is the error-free one
    _, flipped = error_summary.overlap_summary(lstm, {"20-gram": g20, "3-gram": g3}, "lstm-3-64", "wp")
    assert "the 3-gram model also makes 0%; the 3-gram makes 0 errors, 0.0% of symbols that the LSTM gets right " \
           "against 30.0% the other way round" in flipped
    with pytest.raises(RnnvizError, match="at least one model"):
        error_summary.overlap_summary(lstm, {}, "lstm-3-64", "wp")


def test_per_symbol_summary_counts_the_symbols_the_first_model_wins():
    labels = ["a", "}", '"', "\\n"]
    y = np.array([[0, 1, 2, 3, 0, 1]])
    lstm = np.array([[0.5, 0.9, 0.8, 0.7, 0.5, 0.7]])
    gram = np.array([[0.6, 0.1, 0.3, 0.2, 0.6, 0.3]])
    table, sentence = error_summary.per_symbol_summary(lstm, gram, y, labels, ("LSTM", "20-gram"), "lstm-3-64", "lk")
    assert table.index.tolist() == ["}", '"', "\\n", "a"] and table.at["}", "diff"] == pytest.approx(0.6)
    assert sentence.startswith("lk: the LSTM (lstm-3-64) beats the 20-gram on 3 of 4 symbols; `}` +0.600, `\"` +0.500, "
                               "`\\n` +0.500. Paper:")
    # flipped: the n-gram wins everywhere
    _, flipped = error_summary.per_symbol_summary(gram, lstm, y, labels, ("LSTM", "20-gram"), "lstm-3-64", "lk")
    assert "beats the 20-gram on 1 of 4 symbols; `}` -0.600" in flipped
    # no symbol the paper names occurs: the sentence has no empty list
    _, plain = error_summary.per_symbol_summary(lstm, gram, y, ["a", "b", "c", "d"], ("LSTM", "20-gram"), "lstm-3-64",
                                                "lk")
    assert "on 3 of 4 symbols. Paper:" in plain
