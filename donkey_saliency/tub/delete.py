"""`report --delete`: donkeycar's soft delete of the records to review, as `donkey ui`'s tub screen deletes.

The records' indexes join `deleted_indexes` on the tub manifest's last line; catalogs and images stay, donkeycar's
Tub and its training skip the records, and `donkey ui` restores them. Done by donkeycar's own
`Tub.delete_records` where donkeycar is installed, else by this package's twin of its tub (tub/write.py),
which writes the same manifest. Only on a confirmation line (or --yes): it is the one thing this package writes
into a tub. `donkey ui` keeps that line in memory and writes it back on each of its own deletions, so one open on
the tub meanwhile writes over these.
"""
import json
import os

from donkey_saliency.errors import UserError

ANSWER = 'yes'
WARNING = ('close `donkey ui` on these tubs first: it writes its own list of deleted records over the manifest on '
           'its next delete, undoing this')


def check(tubs):
    """A UserError unless every tub is a v2 tub whose manifest can be read whole and written."""
    for tub in tubs:
        manifest = os.path.join(tub, 'manifest.json')
        if not os.path.isfile(manifest):
            raise UserError(f'--delete marks records deleted in a v2 tub\'s manifest.json, and {tub} is a v1 tub '
                            '(donkeycar 5 trains on v2 tubs only); leave out --delete')
        try:
            with open(manifest) as f:
                json.loads(f.read().splitlines()[4])['deleted_indexes']
        except (ValueError, IndexError, KeyError, TypeError):
            raise UserError(f'--delete: {manifest} is damaged (its last line, the list of deleted records, is '
                            'unreadable), so records cannot be marked deleted in it; leave out --delete') from None
        if not (os.access(manifest, os.W_OK) and os.access(tub, os.W_OK)):
            raise UserError(f'--delete cannot write {manifest}; run as the tub\'s owner, or leave out --delete')


def delete(indexes):
    """Mark the records deleted: `indexes` {tub path: record indexes}."""
    from donkey_saliency.tub.write import open_tub_writer
    for path, marked in indexes.items():
        tub = open_tub_writer(path)
        try:
            tub.delete_records(set(marked))
        finally:
            tub.close()


def confirmed_delete(indexes, yes, answer, say):
    """Say what --delete will do and, on the confirmation (`yes`, or `answer()` returning the line 'yes'), do it;
    returns the lines for the summary. `say(line)`: the warning and the question, before the answer is read."""
    count = sum(len(marked) for marked in indexes.values())
    if not count:
        return ['--delete: no record to review, nothing deleted']
    what = f'{count} record(s) in {len(indexes)} tub(s)'
    say(f'--delete: {what} to be marked deleted (donkeycar\'s soft delete: they stay in the tub, training skips '
        f'them, `donkey ui` restores them); {WARNING}')
    if not yes:
        say(f'type {ANSWER} to delete them: ')
        try:
            line = answer()
        except (OSError, EOFError):  # no terminal, nothing to read: no answer
            line = ''
        if (line or '').strip().lower() != ANSWER:
            return [f'--delete: not confirmed, nothing deleted (answer {ANSWER}, or pass --yes)']
    delete(indexes)
    return [f'deleted {what}, restorable in donkey ui: {", ".join(indexes)}']
