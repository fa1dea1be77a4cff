"""Question/passage loaders: local JSONL, Hub datasets (through datasets.load_dataset on local files)."""

import json

import pytest

from rlagent.config.schema import TaskConfig
from rlagent.errors import UserError
from rlagent.tasks.search.data import HubSource, LocalSource


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_local_nq_and_musique_slices(data_dir):
    nq = LocalSource(TaskConfig(dataset="nq", source="local", data_dir=str(data_dir)))
    dev = nq.examples("dev")
    assert len(dev) == 500 and len(nq.examples("train")) == 1655
    assert dev[0].data["answers"] and dev[0].data["supporting_ids"][0].startswith("nqgold-")
    mus = LocalSource(TaskConfig(dataset="musique", source="local", data_dir=str(data_dir)))
    example = mus.examples("dev")[0]
    assert len(example.data["decomposition"]) >= 2 and example.data["supporting_ids"]
    assert len(mus.passages()) == 1890


def test_explicit_files_override_data_dir(tmp_path):
    dev = write_jsonl(tmp_path / "q.jsonl", [{"id": "a", "question": "Q?", "answer": "A", "answer_aliases": ["Ay"]}])
    src = LocalSource(TaskConfig(dataset="mine", source="local", data_dir=None, files={"dev": str(dev)}))
    (example,) = src.examples("dev")
    assert example.data["answers"] == ["A", "Ay"]


def test_local_errors_are_one_line_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"set RLAGENT_DATA_DIR or task\.data_dir"):
        LocalSource(TaskConfig(dataset="nq", source="local", data_dir=None)).examples("dev")
    with pytest.raises(UserError, match="does not exist"):
        LocalSource(TaskConfig(dataset="nq", source="local", data_dir=str(tmp_path))).examples("dev")
    (tmp_path / "nq").mkdir()
    (tmp_path / "nq" / "dev.jsonl").write_text('{"id": "x", "question": "q"}\n{broken\n')
    with pytest.raises(UserError, match=r"dev\.jsonl:2: not valid JSON"):
        LocalSource(TaskConfig(dataset="nq", source="local", data_dir=str(tmp_path))).examples("dev")
    write_jsonl(tmp_path / "nq" / "dev.jsonl", [{"id": "x", "question": "q"}, {"id": "x", "question": "r"}])
    with pytest.raises(UserError, match="duplicate question id 'x'"):
        LocalSource(TaskConfig(dataset="nq", source="local", data_dir=str(tmp_path))).examples("dev")


def local_hub(files):
    """datasets.load_dataset over local JSON files standing in for Hub repositories."""
    from datasets import load_dataset

    def load(name, config, split):
        return load_dataset("json", data_files=files[name], split=split)

    return load


def test_hub_nq_open_format_and_wiki_corpus(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [{"question": "who wrote x", "answer": ["Ann", "Anne"]}])
    val = write_jsonl(tmp_path / "val.jsonl", [{"question": "where is y", "answer": ["Z"]}])
    corpus = write_jsonl(tmp_path / "wiki.jsonl", [{"id": "1", "contents": '"Y (place)"\nY is in Z.'}])
    cfg = TaskConfig(
        dataset="nq",
        source="hub",
        hub_dataset="google-research-datasets/nq_open",
        hub_corpus="PeterJinGo/wiki-18-corpus",
    )
    hub = HubSource(
        cfg,
        load=local_hub(
            {
                "google-research-datasets/nq_open": {"train": str(train), "validation": str(val)},
                "PeterJinGo/wiki-18-corpus": {"train": str(corpus)},
            }
        ),
    )
    (dev,) = hub.examples("dev")  # "dev" maps to the Hub's "validation" split
    assert dev.data == {"question": "where is y", "answers": ["Z"], "supporting_ids": [], "decomposition": []}
    (passage,) = hub.passages()
    assert (passage.title, passage.text) == ("Y (place)", "Y is in Z.")
    with pytest.raises(UserError, match="no split 'test2'"):
        hub.examples("test2")


def test_hub_musique_format_builds_corpus_from_paragraphs(tmp_path):
    row = {
        "id": "2hop__1_2",
        "question": "Where was the author of B born?",
        "answer": "C",
        "answer_aliases": ["C city"],
        "answerable": True,
        "paragraphs": [
            {"idx": 0, "title": "B", "paragraph_text": "B was written by A.", "is_supporting": True},
            {"idx": 1, "title": "A", "paragraph_text": "A was born in C.", "is_supporting": True},
            {"idx": 2, "title": "D", "paragraph_text": "Unrelated.", "is_supporting": False},
        ],
        "question_decomposition": [
            {"id": 1, "question": "B >> author", "answer": "A", "paragraph_support_idx": 0},
            {"id": 2, "question": "where was #1 born", "answer": "C", "paragraph_support_idx": 1},
        ],
    }
    train = write_jsonl(tmp_path / "train.jsonl", [row])
    val = write_jsonl(tmp_path / "val.jsonl", [{**row, "id": "2hop__3_4"}])
    hub = HubSource(
        TaskConfig(dataset="musique", source="hub", hub_dataset="bdsaglam/musique"),
        load=local_hub({"bdsaglam/musique": {"train": str(train), "validation": str(val)}}),
    )
    (example,) = hub.examples("train")
    assert example.data["answers"] == ["C", "C city"]
    assert example.data["supporting_ids"] == ["2hop__1_2-p0", "2hop__1_2-p1"]
    assert [p.id for p in hub.passages()][:3] == ["2hop__1_2-p0", "2hop__1_2-p1", "2hop__1_2-p2"]
    assert len(hub.passages()) == 6
