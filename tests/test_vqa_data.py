"""The VQA v2 layout: `write_vqa` -> `load_vqa` round trips, and every malformed folder is one `DatasetError`.

Hand-made folders cover each error the loader names (malformed JSON, a missing key, a missing or damaged image, a
question without annotation and the reverse, image ids that disagree, an empty answer list, a symbolic link out of the
root, ...), each checked for the file and the question id in the message. Hypothesis then cuts the JSON files at
random offsets and drops random keys: the loader must answer with a one-line `DatasetError` naming the file, never a
lower library's exception (KeyError, TypeError, json.JSONDecodeError).
"""

import json
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mmlearn.core import DatasetError, Record
from mmlearn.data.formats import (
    FORMATS,
    VQARecord,
    load_vqa,
    read_image,
    vqa_files,
    write_image,
    write_vqa,
)
from mmlearn.data.synthetic import scene_questions
from mmlearn.evaluate import vqa_accuracy

SCRATCH = Path(tempfile.mkdtemp(prefix="mmlearn_vqa_"))
QUESTION_KEYS = ["image_id", "question", "question_id"]
ANNOTATION_KEYS = [
    "question_id",
    "image_id",
    "question_type",
    "answer_type",
    "multiple_choice_answer",
    "answers",
]


@pytest.fixture(scope="module", autouse=True)
def remove_scratch():
    "Leave no folders behind in the temporary directory."
    yield
    shutil.rmtree(SCRATCH, ignore_errors=True)


@pytest.fixture(scope="module")
def questions():
    "Scene questions about 10 scenes, split as the generator splits them."
    asked = scene_questions(40, seed=2, per_scene=4)
    train = [q for q in asked if q.split == "train"]
    held = [q for q in asked if q.split != "train"]
    assert train and held
    return train, held


@pytest.fixture(scope="module")
def folder(questions):
    "A VQA folder with train2014 and val2014 written from the scene questions."
    root = SCRATCH / "written"
    write_vqa(root, questions[0], "train2014")
    write_vqa(root, questions[1], "val2014")
    return root


def small_copy(tmp_path: Path) -> tuple[Path, Path, Path]:
    "8 questions about two scenes (ids 0 and 1) in train2014; (root, questions file, annotations file)."
    root = write_vqa(tmp_path / "vqa", scene_questions(8, seed=0, per_scene=4), "train2014")
    return (root, *vqa_files(root, "train2014")[:2])


def edit(path: Path, key: str, change) -> None:
    "Apply `change` to the list under `key` of a JSON file and write it back."
    data = json.loads(path.read_text())
    change(data[key])
    path.write_text(json.dumps(data))


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("split", ["train2014", "val2014"])
def test_write_then_load_gives_back_every_question_answer_type_and_pixel(questions, folder, split):
    made = questions[0] if split == "train2014" else questions[1]
    records = load_vqa(folder, split)
    assert len(records) == len(made)
    assert all(isinstance(r, VQARecord) and isinstance(r, Record) for r in records)
    assert [r.question for r in records] == [q.question for q in made]
    assert [r.answers for r in records] == [q.answers for q in made]
    assert [r.label for r in records] == [q.answer for q in made]
    for r, q in zip(records, made):
        assert r.meta["question_type"] == q.question_type and r.meta["answer_type"] == q.answer_type
        assert r.meta["multiple_choice_answer"] == q.answer and r.meta["image_id"] == q.media_index
        assert r.meta["mmlearn_split"] == q.split and r.meta["mmlearn_phrasing"] == q.phrasing
        assert r.meta["split"] == split
        assert r.path.is_absolute() and folder.resolve() in r.path.parents
        assert r.path.name == f"COCO_{split}_{q.media_index:012d}.png"
        np.testing.assert_array_equal(read_image(r.path), q.media)
    assert len({r.meta["question_id"] for r in records}) == len(records)


def test_the_ground_truth_answers_score_one(folder):
    for split in ("train2014", "val2014"):
        records = load_vqa(folder, split)
        assert vqa_accuracy([r.answers for r in records], [r.label for r in records]) == 1.0
        assert (
            vqa_accuracy([r.answers for r in records], [r.meta["multiple_choice_answer"] for r in records])
            == 1.0
        )


def test_vqa_is_a_registered_format(folder):
    assert FORMATS["vqa"] is load_vqa
    assert len(FORMATS["vqa"](folder)) == len(load_vqa(folder, "train2014"))


def test_jpeg_images_are_found_and_png_is_the_fallback(tmp_path):
    root = small_copy(tmp_path)[0]
    png = root / "train2014" / "COCO_train2014_000000000001.png"
    pixels = read_image(png)
    png.unlink()
    Image.fromarray(pixels).save(png.with_suffix(".jpg"), quality=95)
    records = load_vqa(root)
    assert [r.path.suffix for r in records] == [".png"] * 4 + [".jpg"] * 4


def test_official_fields_are_enough(tmp_path):
    "A hand-written folder with only the keys of the official files (no mmlearn_* keys, no info) loads."
    root = tmp_path / "official"
    write_image(root / "val2014" / "COCO_val2014_000000000042.jpg", np.full((8, 8, 3), 200, np.uint8))
    q = {"questions": [{"image_id": 42, "question": "What colour is it?", "question_id": 42000}]}
    answers = [
        {"answer": a, "answer_confidence": "yes", "answer_id": i + 1}
        for i, a in enumerate(["grey"] * 9 + ["gray"])
    ]
    a = {
        "annotations": [
            {
                "question_id": 42000,
                "image_id": 42,
                "question_type": "what color is the",
                "answer_type": "other",
                "multiple_choice_answer": "grey",
                "answers": answers,
            }
        ]
    }
    (root / "v2_OpenEnded_mscoco_val2014_questions.json").write_text(json.dumps(q))
    (root / "v2_mscoco_val2014_annotations.json").write_text(json.dumps(a))
    (record,) = load_vqa(root, "val2014")
    assert record.question == "What colour is it?" and record.answers == ["grey"] * 9 + ["gray"]
    assert record.meta == {
        "question_id": 42000,
        "image_id": 42,
        "question_type": "what color is the",
        "answer_type": "other",
        "multiple_choice_answer": "grey",
        "split": "val2014",
    }


# ---------------------------------------------------------------- malformed folders, one error each


def set_key(entry: int, key: str, value):
    return lambda items: items[entry].update({key: value})


def drop_key(entry: int, key: str):
    return lambda items: items[entry].pop(key)


def cut_image(root: Path):
    p = root / "train2014" / "COCO_train2014_000000000001.png"
    p.write_bytes(p.read_bytes()[:-30])


def remove_image(root: Path):
    (root / "train2014" / "COCO_train2014_000000000001.png").unlink()


def link_image_out(root: Path):
    p = root / "train2014" / "COCO_train2014_000000000001.png"
    outside = root.parent / "outside.png"
    shutil.copy(p, outside)
    p.unlink()
    p.symlink_to(outside)


# (which file is edited, how, the file the error names, what the message says; {qid} is the question id)
CASES = {
    "question without annotation": (
        "a",
        lambda items: items.pop(5),
        "a",
        "question_id {qid} (questions[5] in v2_OpenEnded_mscoco_train2014_questions.json) has no annotation",
        1001,
    ),
    "annotation without question": (
        "q",
        lambda items: items.pop(5),
        "a",
        "annotations[5] (question_id {qid}): no question with this id",
        1001,
    ),
    "image id mismatch": (
        "a",
        set_key(2, "image_id", 1),
        "a",
        (
            "annotations[2] (question_id {qid}): image_id 1, but questions[2] in "
            "v2_OpenEnded_mscoco_train2014_questions.json has image_id 0"
        ),
        2,
    ),
    "empty answers": (
        "a",
        set_key(3, "answers", []),
        "a",
        "annotations[3] (question_id {qid}): empty 'answers'; expected the human answers",
        3,
    ),
    "missing answers key": (
        "a",
        drop_key(1, "answers"),
        "a",
        "annotations[1] (question_id {qid}): missing key 'answers'",
        1,
    ),
    "missing answer_type key": (
        "a",
        drop_key(6, "answer_type"),
        "a",
        "annotations[6] (question_id {qid}): missing key 'answer_type'",
        1002,
    ),
    "missing question key": (
        "q",
        drop_key(4, "question"),
        "q",
        "questions[4] (question_id {qid}): missing key 'question'",
        1000,
    ),
    "missing image_id key": (
        "q",
        drop_key(7, "image_id"),
        "q",
        "questions[7] (question_id {qid}): missing key 'image_id'",
        1003,
    ),
    "question id of the wrong type": (
        "q",
        set_key(1, "question_id", "1"),
        "q",
        'questions[1] (question_id "{qid}"): \'question_id\' is "1"; expected an integer',
        1,
    ),
    "empty question": (
        "q",
        set_key(2, "question", "  "),
        "q",
        "questions[2] (question_id {qid}): empty question",
        2,
    ),
    "duplicate question id": (
        "q",
        set_key(5, "question_id", 1000),
        "q",
        "questions[5]: duplicate question_id {qid} (first at questions[4])",
        1000,
    ),
    "duplicate annotation": (
        "a",
        set_key(5, "question_id", 1000),
        "a",
        "annotations[5] (question_id {qid}): duplicate annotation (first at annotations[4])",
        1000,
    ),
    "unknown answer type": (
        "a",
        set_key(0, "answer_type", "colour"),
        "a",
        "annotations[0] (question_id {qid}): answer_type 'colour'; expected one of",
        0,
    ),
    "an answer that is not an object": (
        "a",
        set_key(0, "answers", ["red"]),
        "a",
        'annotations[0] (question_id {qid}): answers[0] is "red"',
        0,
    ),
    "missing image": (
        None,
        remove_image,
        "q",
        (
            "questions[4] (question_id {qid}): image file {root}/train2014/COCO_train2014_000000000001.jpg "
            "not found (nor COCO_train2014_000000000001.png)"
        ),
        1000,
    ),
    "damaged image": (
        None,
        cut_image,
        "q",
        (
            "questions[4] (question_id {qid}): unreadable image file "
            "{root}/train2014/COCO_train2014_000000000001.png: truncated"
        ),
        1000,
    ),
    "symbolic link out of the root": (
        None,
        link_image_out,
        "q",
        (
            "questions[4] (question_id {qid}): path 'COCO_train2014_000000000001.png' "
            "escapes the dataset root {root} through a symbolic link (to "
        ),
        1000,
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_malformed_folder_names_the_file_and_the_question_id(tmp_path, case):
    edited, change, named, message, qid = CASES[case]
    root, qf, af = small_copy(tmp_path)
    files = {"q": (qf, "questions"), "a": (af, "annotations")}
    if edited is None:
        change(root)
    else:
        edit(*files[edited], change)
    with pytest.raises(DatasetError) as caught:
        load_vqa(root)
    text = str(caught.value)
    assert "\n" not in text, text
    assert caught.value.file == files[named][0], text
    assert text.startswith(f"{files[named][0]}: "), text
    assert message.format(qid=qid, root=root) in text, text
    assert str(qid) in text


@pytest.mark.parametrize("which", ["questions", "annotations"])
def test_malformed_json_names_the_file_line_and_column(tmp_path, which):
    root, qf, af = small_copy(tmp_path)
    path = qf if which == "questions" else af
    path.write_text(f'{{"{which}": [\n  {{"question_id": 0,}}]}}')
    with pytest.raises(DatasetError) as caught:
        load_vqa(root)
    assert caught.value.file == path and caught.value.line == 2
    assert str(caught.value) == (
        f"{path}, line 2: not valid JSON: Expecting property name enclosed in double quotes (column 21)"
    )


def test_missing_files_and_wrong_top_level(tmp_path):
    root, qf, af = small_copy(tmp_path)
    with pytest.raises(DatasetError, match="v2_OpenEnded_mscoco_val2014_questions.json: manifest not found"):
        load_vqa(root, "val2014")
    af.unlink()
    with pytest.raises(DatasetError, match="v2_mscoco_train2014_annotations.json: manifest not found"):
        load_vqa(root)
    qf.write_text('[{"question_id": 1}]')
    with pytest.raises(DatasetError, match="questions.json: expected a JSON object with a list 'questions'"):
        load_vqa(root)
    with pytest.raises(DatasetError, match="dataset folder not found"):
        load_vqa(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="split: expected a plain name"):
        load_vqa(root, "../train2014")


def test_verify_false_only_checks_that_the_image_exists(tmp_path):
    root, _, _ = small_copy(tmp_path)
    cut_image(root)
    assert len(load_vqa(root, verify=False)) == 8
    remove_image(root)
    with pytest.raises(DatasetError, match="not found"):
        load_vqa(root, verify=False)


def test_skip_leaves_out_only_the_bad_questions(tmp_path):
    root, qf, af = small_copy(tmp_path)
    cut_image(root)  # the four questions about image 1
    edit(af, "annotations", set_key(1, "answers", []))  # and question 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        records = load_vqa(root, on_error="skip")
    assert [r.meta["question_id"] for r in records] == [0, 2, 3]
    assert len(records.skipped) == 5 and len(caught) == 1  # each bad question once, in one warning
    assert all(isinstance(e, DatasetError) for e in records.skipped)
    edit(qf, "questions", drop_key(2, "question"))  # a refused question is not reported again as unanswered
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = load_vqa(root, on_error="skip")
    assert [r.meta["question_id"] for r in records] == [0, 3] and len(records.skipped) == 6


# ---------------------------------------------------------------- the writer refuses what VQA cannot hold


def test_write_vqa_refuses_non_image_questions_and_clashing_images(tmp_path):
    q = scene_questions(8, seed=0, per_scene=4)
    sound = type(
        "Q",
        (),
        {
            "media": np.zeros(100, np.float32),
            "media_index": 0,
            "question": "how many?",
            "answer": "2",
            "answers": ["2"] * 10,
            "question_type": "count",
            "answer_type": "number",
        },
    )
    with pytest.raises(ValueError, match=r"records\[0\]: expected a question about an image"):
        write_vqa(tmp_path / "a", [sound()])
    clash = scene_questions(8, seed=1, per_scene=4)
    with pytest.raises(ValueError, match=r"records\[1\]: media_index 0 with pixels unlike"):
        write_vqa(tmp_path / "b", [q[0], clash[0]])
    with pytest.raises(ValueError, match="split: expected a plain name"):
        write_vqa(tmp_path / "c", q, "a/b")


# ---------------------------------------------------------------- Hypothesis: cut files, dropped keys


@pytest.fixture(scope="module")
def base():
    "One small folder that every Hypothesis example copies."
    root = write_vqa(SCRATCH / "base", scene_questions(8, seed=0, per_scene=4), "train2014")
    return root


def fresh_copy(base: Path) -> tuple[Path, Path, Path]:
    root = Path(tempfile.mkdtemp(dir=SCRATCH)) / "vqa"
    shutil.copytree(base, root)
    return (root, *vqa_files(root, "train2014")[:2])


def assert_refused_naming(root: Path, path: Path) -> None:
    "load_vqa raises a one-line DatasetError naming `path` (anything else fails the test with its traceback)."
    with pytest.raises(DatasetError) as caught:
        load_vqa(root)
    text = str(caught.value)
    assert "\n" not in text and str(path) in text, text


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(which=st.sampled_from(["questions", "annotations"]), fraction=st.floats(0, 1, exclude_max=True))
def test_json_cut_at_any_offset_is_refused_naming_the_file(base, which, fraction):
    root, qf, af = fresh_copy(base)
    path = qf if which == "questions" else af
    data = path.read_bytes()
    path.write_bytes(data[: int(fraction * len(data))])
    assert_refused_naming(root, path)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drops=st.lists(
        st.tuples(
            st.sampled_from(["questions", "annotations"]),
            st.integers(0, 7),
            st.integers(0, len(ANNOTATION_KEYS) - 1),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_dropped_keys_are_refused_naming_the_file(base, drops):
    root, qf, af = fresh_copy(base)
    files = {"questions": (qf, QUESTION_KEYS), "annotations": (af, ANNOTATION_KEYS)}
    changed = set()
    for which, entry, k in drops:
        path, keys = files[which]
        data = json.loads(path.read_text())
        data[which][entry].pop(keys[k % len(keys)], None)
        path.write_text(json.dumps(data))
        changed.add(path)
    with pytest.raises(DatasetError) as caught:
        load_vqa(root)
    text = str(caught.value)
    assert "\n" not in text and any(str(p) in text for p in changed), text


json_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(
    max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    which=st.sampled_from(["questions", "annotations"]),
    entry=st.integers(0, 7),
    key=st.sampled_from(ANNOTATION_KEYS + ["answer"]),
    value=json_values,
)
def test_any_json_value_in_any_field_loads_or_is_refused_naming_the_file(base, which, entry, key, value):
    root, qf, af = fresh_copy(base)
    path = qf if which == "questions" else af
    data = json.loads(path.read_text())
    target = data[which][entry]
    if key == "answer" and which == "annotations":
        target["answers"][0]["answer"] = value
    else:
        target[key] = value
    path.write_text(json.dumps(data))
    try:
        records = load_vqa(root)
    except DatasetError as e:
        text = str(e)
        assert "\n" not in text and (str(qf) in text or str(af) in text), text
        return
    assert len(records) == 8 and all(isinstance(r.question, str) for r in records)  # an extra key: harmless
