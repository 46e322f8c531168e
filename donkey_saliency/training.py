"""Train a donkeycar pilot on a tub with donkeycar's own pieces, reproducibly.

For the bundled sample and for tests that need a pilot with meaning. Labels and inputs come from the pilot's
own `x_transform`/`y_transform` on donkeycar `TubRecord`s and training is the pilot's own `train()`, so the
result is what `donkey train` would make, without its augmentations (random, so not reproducible).
"""
import numpy as np

from donkey_saliency.quiet import import_donkeycar, import_tensorflow


def _stack(dicts):
    return {key: np.stack([np.asarray(d[key], np.float32) for d in dicts]) for key in dicts[0]}


def train(kind, tub_path, model_path, epochs=10, seed=0, batch_size=32, config=None):
    """Train a `kind` pilot (any donkeycar builds from the camera and the record: linear, categorical, inferred, imu,
    memory, behavior, rnn, 3d) on the tub at `tub_path` (or the tubs of a list); save it to `model_path`. A pilot
    of sequences (rnn, 3d, memory) learns from runs of consecutive records, as donkeycar's TubDataset collates them.
    `config`: a car config.py whose TRANSFORMATIONS (e.g. 'CROP') every image goes
    through before it is normalised, as donkeycar's training applies them."""
    import_donkeycar()  # quietly, before its modules below
    tf = import_tensorflow()
    from donkeycar.parts.tub_v2 import Tub
    from donkeycar.pipeline.types import Collator, TubRecord
    from donkeycar.utils import get_model_by_type, normalize_image
    from donkey_saliency.core import carconfig

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    cfg, _ = carconfig.load(config)
    transform = carconfig.transformer(cfg)
    records = []
    for path in tub_path if isinstance(tub_path, (list, tuple)) else [tub_path]:
        tub = Tub(str(path), read_only=True)
        records += [TubRecord(cfg, tub.base_path, r) for r in tub]
        tub.close()
    first = records[0].image()
    cfg.IMAGE_H, cfg.IMAGE_W, cfg.IMAGE_DEPTH = first.shape
    pilot = get_model_by_type(kind, cfg)
    if pilot.seq_size() > 0:
        records = list(Collator(pilot.seq_size(), records))

    def processor(image):
        return normalize_image(transform.run(image) if transform else image)

    x = _stack([pilot.x_transform(r, processor) for r in records])
    y = _stack([pilot.y_transform(r) for r in records])
    order = np.random.default_rng(seed).permutation(len(records))
    cut = int(len(order) * 0.8)

    def dataset(indexes, repeat):
        data = tf.data.Dataset.from_tensor_slices(({k: v[indexes] for k, v in x.items()},
                                                   {k: v[indexes] for k, v in y.items()}))
        if repeat:
            data = data.shuffle(len(indexes), seed=seed).repeat()
        return data.batch(batch_size)

    steps = max(1, cut // batch_size)
    history = pilot.train(str(model_path), dataset(order[:cut], True), steps, batch_size,
                          dataset(order[cut:], False), None, epochs, verbose=0, patience=epochs)
    pilot.load(str(model_path))  # the best epoch, as the checkpoint kept it
    pilot.interpreter.model.save(str(model_path), include_optimizer=False)  # a third of the size
    return pilot, history
