"""How an unexpected error is named in its one line: one function (errors.described) for the command and for a
--jobs worker, so that the two never say the same failure differently (they did on an empty message)."""
import ast
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
    assert found == [], found


def _pasted(node, name):
    """Whether the value of expression `node` may be the exception `name` itself or its args (`exc`,
    `exc.filename or exc`, `exc.args[0]`); a call decides for itself what it reads of an exception it is given."""
    if isinstance(node, ast.Name):
        return node.id == name
    if isinstance(node, ast.BoolOp):
        return any(_pasted(value, name) for value in node.values)
    if isinstance(node, ast.IfExp):
        return _pasted(node.body, name) or _pasted(node.orelse, name)
    if isinstance(node, ast.Attribute):
        return node.attr == 'args' and _pasted(node.value, name)
    if isinstance(node, ast.Subscript):
        return _pasted(node.value, name)
    return False


def test_no_foreign_exception_is_pasted_into_a_message_as_it_is():
    """A message never embeds an exception of someone else's (a config file's, donkeycar's, the system's) as it is
    in an f-string (`{exc}`, `{exc.filename or exc}`): an empty one leaves 'cannot read X: ' dangling and a long
    one runs over lines. It goes through errors.py (described, first_line); the package's own UserError, worded
    for the user, may be quoted whole; str(exc) stays free for matching a message (OSError's text, a converter's
    op names)."""
    own = {'UserError', 'NothingToShow'}
    found = []
    for path in PACKAGE.rglob('*.py'):
        for handler in ast.walk(ast.parse(path.read_text())):
            if not isinstance(handler, ast.ExceptHandler) or not handler.name:
                continue
            caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            if all(isinstance(t, ast.Name) and t.id in own for t in caught):
                continue
            for statement in handler.body:
                for node in ast.walk(statement):
                    if isinstance(node, ast.FormattedValue) and _pasted(node.value, handler.name):
                        found.append(f'{path.relative_to(PACKAGE)}:{node.lineno}')
    assert found == [], found
