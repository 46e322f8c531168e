"""How an unexpected error is named in its one line: one function (errors.described) for the command and for a
--jobs worker, so that the two never say the same failure differently (they did on an empty message)."""
import re
from pathlib import Path

import pytest

from donkey_saliency.errors import described, first_line

PACKAGE = Path(__file__).resolve().parent.parent / 'donkey_saliency'


@pytest.mark.parametrize('exc, said', [
    (RuntimeError(), 'RuntimeError'),  # empty: the type alone, not 'RuntimeError: '
    (ValueError(' \n\t'), 'ValueError'),  # blank is empty too
    (OSError('disk gone\nthe details'), 'OSError: disk gone'),  # the first line only
    (KeyError('angle'), "KeyError: 'angle'"),
    (ValueError('x' * 400), 'ValueError: ' + 'x' * 300),  # a runaway message is cut at 300 characters
])
def test_an_unexpected_error_is_its_type_and_first_line(exc, said):
    assert described(exc) == said


def test_a_quoted_message_is_never_empty():
    """What goes between parentheses in a user error ('cannot load X (...)') names the type when there is no
    message, rather than failing with an IndexError on the empty message."""
    assert first_line(RuntimeError()) == 'RuntimeError'
    assert first_line(RuntimeError('  bad file \n more')) == 'bad file'


def test_no_module_words_an_exception_itself():
    """The CLI and the --jobs worker each had their own inline copy of this, which differed on an empty message;
    every module goes through errors.py instead."""
    inline = re.compile(r'str\(\w+\)(\.strip\(\))?\.splitlines\(\)')
    found = [f'{path.relative_to(PACKAGE)}:{n}' for path in PACKAGE.rglob('*.py') if path.name != 'errors.py'
             for n, line in enumerate(path.read_text().splitlines(), 1) if inline.search(line)]
    assert found == []
