from asapp_intercom.domain.feeds import column_types


def test_a_column_takes_its_most_common_type_and_is_null_only_when_null_throughout():
    rows = [
        {"id": 1, "score": 4.5, "tags": ["a"], "note": None, "meta": {"k": 1}},
        {"id": -2, "score": "n/a", "tags": [], "note": None, "vip": True},
        {"id": 3, "score": 3.0, "tags": None, "note": None},
    ]

    assert column_types(rows) == {
        "id": "UBIGINT",  # two of three are unsigned
        "meta": "OBJECT",
        "note": "NULL",
        "score": "DOUBLE",
        "tags": "ARRAY",  # a null does not outvote the arrays
        "vip": "BOOLEAN",
    }


def test_a_tie_goes_to_the_type_seen_first():
    assert column_types([{"x": "a"}, {"x": 1}]) == {"x": "VARCHAR"}
    assert column_types([{"x": 1}, {"x": "a"}]) == {"x": "UBIGINT"}
    # an integer's type is in its sign: the first negative one comes after the first array
    assert column_types([{"x": 0}, {"x": [1]}, {"x": -1}, {"x": -2}, {"x": []}]) == {"x": "ARRAY"}
    assert column_types([{"x": 0}, {"x": -1}, {"x": [1]}, {"x": -2}, {"x": []}]) == {"x": "BIGINT"}
