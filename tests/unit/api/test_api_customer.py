import pytest
from placewise.api.customer import CustomerSelector


def test_single_club_header_and_scope():
    sel = CustomerSelector.club(1001)
    assert sel.header_value == "id=1001"
    assert sel.scope_key == "club:1001"
    assert sel.club_ids == (1001,)
    assert sel.is_multi is False


def test_several_clubs_are_sorted_and_deduplicated():
    sel = CustomerSelector.clubs([1002, 1001, 1002])
    assert sel.header_value == "id=1001_1002"
    assert sel.scope_key == "clubs:1001_1002"
    assert sel.club_ids == (1001, 1002)
    assert sel.is_multi is True
    assert sel == CustomerSelector.clubs([1001, 1002])


def test_clubs_over_the_limit_fail_naming_the_limit():
    with pytest.raises(ValueError, match="40"):
        CustomerSelector.clubs(range(1, 42))


def test_forty_clubs_are_allowed():
    assert len(CustomerSelector.clubs(range(1, 41)).club_ids) == 40


def test_empty_club_list_fails_naming_the_limit():
    with pytest.raises(ValueError, match="1 to 40"):
        CustomerSelector.clubs([])


@pytest.mark.parametrize("bad", [0, -1, "1001", True, 1.5])
def test_club_ids_must_be_positive_integers(bad):
    with pytest.raises(ValueError):
        CustomerSelector.club(bad)


def test_all_customers():
    sel = CustomerSelector.all()
    assert sel.header_value == "all=all"
    assert sel.scope_key == "all"
    assert sel.club_ids is None
    assert sel.is_multi is True


def test_attributes_are_sorted_for_a_stable_key():
    sel = CustomerSelector.attributes(country="PL", chain="Cats")
    assert sel.header_value == "chain=Cats;country=PL"
    assert sel.scope_key == "attrs:chain=Cats;country=PL"
    assert sel.is_multi is True
    assert sel.club_ids is None


@pytest.mark.parametrize("value", ["a;b", "a=b", ""])
def test_attribute_values_reject_separators(value):
    with pytest.raises(ValueError):
        CustomerSelector.attributes(chain=value)


def test_str_names_the_clubs_for_messages():
    assert str(CustomerSelector.club(7)) == "club 7"
    assert str(CustomerSelector.clubs([2, 1])) == "clubs 1,2"
