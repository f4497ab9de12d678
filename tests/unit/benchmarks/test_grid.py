"""The benchmarks' picture grid: column titles stay inside their column."""

import pytest

from benchmarks import grid


@pytest.mark.parametrize('name', ['unet/classification+l1_chroma', 'gray', 'unet/l1_chroma@mixed_bfloat16',
                                  'a' * 45 + '/x'])
def test_titles_wrap_within_the_column_and_lose_nothing(name):
  lines = grid._wrap(name, 20)  # pylint: disable=protected-access
  assert ''.join(lines) == name
  assert all(0 < len(line) <= 20 for line in lines)


def test_titles_break_after_a_separator_where_they_can():
  assert grid._wrap('unet/classification+l1_chroma', 20) == ['unet/classification+', 'l1_chroma']  # pylint: disable=protected-access
