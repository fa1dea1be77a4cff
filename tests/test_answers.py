from rlagent.tasks.search.answers import exact_match, normalize_answer, token_f1


def test_normalize_drops_articles_punctuation_case_and_spaces():
    assert normalize_answer("  The  Eiffel-Tower! ") == "eiffeltower"
    assert normalize_answer("An apple, a pear") == "apple pear"
    assert normalize_answer("theatre") == "theatre"  # 'the' only as a word


def test_normalize_unicode_punctuation_and_compatibility_forms():
    assert normalize_answer("“Paris”") == "paris"
    assert normalize_answer("Ｐａｒｉｓ") == "paris"  # full-width letters
    assert normalize_answer("1914–1918") == "19141918"  # en dash is punctuation
    assert normalize_answer("Pelé") == "pelé"  # accents are kept, as in SQuAD


def test_exact_match_any_alias():
    golds = ["Joe Pizzulo and Leeza Miller", "Joe Pizzulo", "Leeza Miller"]
    assert exact_match("leeza miller.", golds) == 1.0
    assert exact_match("Miller", golds) == 0.0
    assert exact_match("", ["x"]) == 0.0


def test_f1_partial_credit_and_best_alias():
    assert token_f1("Joe Pizzulo", ["Joe Pizzulo and Leeza Miller"]) == 2 * (1.0 * 0.4) / 1.4
    assert token_f1("the Beatles", ["Beatles", "The Rolling Stones"]) == 1.0
    assert token_f1("nothing shared", ["Beatles"]) == 0.0
    assert token_f1("", [""]) == 1.0
