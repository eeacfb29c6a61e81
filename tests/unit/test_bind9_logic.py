"""bind9's pure layer: SOA serials, records, zone rendering, diffs, dynamic merges, validation."""

import datetime

import pytest
from suite_modules import load

bind9 = load("_modules/bind9.py", "bind9_logic")

DAY = datetime.date(2026, 11, 28)
ORIGIN = "example.lab"
RECORDS = [
    {"name": "ns1", "type": "A", "data": "10.77.0.11"},
    {"name": "files", "type": "A", "data": "10.77.0.100"},
    {"name": "node1", "type": "AAAA", "data": "fd00::21"},
    {"name": "www", "type": "CNAME", "data": "files.example.lab."},
    {"name": "_webdav._tcp", "type": "SRV", "data": "0 10 443 files"},
    {"name": "@", "type": "MX", "data": "10 mail.example.org."},
    {"name": "motd", "type": "TXT", "data": '"hello world"', "ttl": 60},
]


def zone_of(records=RECORDS, serial=2026112801, **kw):
    return bind9._zone_records(bind9._build_zone(ORIGIN, records, ["ns1"], serial, **kw))


# ---- serial --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "current,today,expected",
    [
        (0, DAY, 2026112800),  # a new zone starts at today's first number
        (1, DAY, 2026112800),  # a small counter serial moves into the date convention
        (2026112705, DAY, 2026112800),  # first change of a new day
        (2026112800, DAY, 2026112801),  # second change of the day
        (2026112898, DAY, 2026112899),
        (2026112899, DAY, 2026112900),  # the 101st change borrows tomorrow's numbers
        (2026112900, DAY, 2026112901),  # and keeps counting there, never back to 28
        (2026112901, datetime.date(2026, 11, 29), 2026112902),  # borrowed day comes: still grows
        (2026112999, datetime.date(2026, 11, 29), 2026113000),
        (2026123199, datetime.date(2026, 12, 31), 2026123200),  # past 99 on new year's eve
        (2026123200, datetime.date(2027, 1, 1), 2027010100),  # next year resets to the date
        (2030010100, DAY, 2030010101),  # serial from the future (clock once wrong): only grows
    ],
)
def test_next_serial_always_grows_in_date_convention(current, today, expected):
    assert bind9.next_serial(current, today) == expected


def test_next_serial_takes_an_iso_date_from_the_cli():
    assert bind9.next_serial("2026112705", "2026-11-28") == 2026112800


def test_hundred_and_fifty_changes_in_a_day_stay_unique_and_increasing():
    serial, seen = 2026112799, []
    for _ in range(150):
        serial = bind9.next_serial(serial, DAY)
        seen.append(serial)
    assert seen == sorted(set(seen))
    assert seen[0] == 2026112800 and seen[99] == 2026112899 and seen[100] == 2026112900


@pytest.mark.parametrize("bad", [-1, 2**32 - 1, 2**32 + 5])
def test_next_serial_refuses_serials_outside_the_32_bit_range(bad):
    with pytest.raises(ValueError):
        bind9.next_serial(bad, DAY)


# ---- records ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record,expected",
    [
        ({"name": "www", "type": "A", "data": "10.0.0.1"}, ("www", "A", 3600, "10.0.0.1")),
        ({"name": "www.example.lab.", "type": "a", "data": "10.0.0.1"}, ("www", "A", 3600, "10.0.0.1")),
        ({"name": "@", "type": "NS", "data": "ns1.example.lab."}, ("@", "NS", 3600, "ns1")),
        ({"name": "example.lab.", "type": "NS", "data": "ns.other.org."}, ("@", "NS", 3600, "ns.other.org.")),
        ({"name": "x", "type": "CNAME", "data": "files", "ttl": 30}, ("x", "CNAME", 30, "files")),
        ({"name": "t", "type": "TXT", "data": '"a b"'}, ("t", "TXT", 3600, '"a b"')),
        (
            {"name": "_s._tcp", "type": "SRV", "data": "0 5 443 files.example.lab."},
            ("_s._tcp", "SRV", 3600, "0 5 443 files"),
        ),
        ({"name": "v6", "type": "AAAA", "data": "FD00:0:0::1"}, ("v6", "AAAA", 3600, "fd00::1")),
    ],
)
def test_records_normalise_to_one_canonical_form(record, expected):
    assert bind9.normalize_record(record, ORIGIN) == expected


@pytest.mark.parametrize(
    "record",
    [
        {"name": "www", "type": "A", "data": "10.0.0.300"},
        {"name": "www", "type": "AAAA", "data": "10.0.0.1"},
        {"name": "www", "type": "NOPE", "data": "x"},
        {"name": "www", "type": "A"},
        {"name": "www.other.org.", "type": "A", "data": "10.0.0.1"},
        {"name": "www", "type": "MX", "data": "mail"},
    ],
)
def test_invalid_records_are_refused_naming_the_record(record):
    with pytest.raises(ValueError, match="record"):
        bind9.normalize_record(record, ORIGIN)


def test_rendered_zone_parses_back_to_the_same_records():
    zone = bind9._build_zone(ORIGIN, RECORDS, ["ns1"], 2026112801, soa_email="host.master@example.lab")
    text = bind9._render(zone)
    assert text.startswith("; Managed by Salt")
    assert "$ORIGIN example.lab." in text
    assert bind9._parse(text, ORIGIN) == bind9._zone_records(zone)


def test_soa_names_the_first_nameserver_and_escapes_dots_in_the_mailbox():
    soa = bind9._soa_of(zone_of(soa_email="host.master@example.lab"))
    assert soa[3].split()[:3] == ["ns1", "host\\.master", "2026112801"]
    assert bind9._soa_of(zone_of())[3].split()[1] == "hostmaster"


def test_a_zone_without_nameservers_is_refused():
    with pytest.raises(ValueError, match="nameserver"):
        bind9._build_zone(ORIGIN, RECORDS, [], 1)


# ---- diffs -------------------------------------------------------------------------------------------


def test_serial_alone_is_not_a_change():
    assert bind9.diff_records(zone_of(serial=1), zone_of(serial=2026112805)) == {"added": [], "removed": []}


def test_diff_lists_added_and_removed_records():
    before = zone_of()
    after = zone_of(RECORDS[:-1] + [{"name": "new", "type": "A", "data": "10.77.0.9"}])
    assert bind9.diff_records(before, after) == {
        "added": ["new 3600 A 10.77.0.9"],
        "removed": ['motd 60 TXT "hello world"'],
    }


def test_ttl_and_soa_contact_changes_are_changes():
    ttl = [dict(r, ttl=120) if r["name"] == "files" else r for r in RECORDS]
    diff = bind9.diff_records(zone_of(), zone_of(ttl))
    assert diff == {"added": ["files 120 A 10.77.0.100"], "removed": ["files 3600 A 10.77.0.100"]}
    contact = bind9.diff_records(zone_of(), zone_of(soa_email="dns@example.lab"))
    assert contact["added"][0].startswith("@ 3600 SOA ns1 dns")


def test_diff_takes_lists_as_the_cli_gives_them():
    diff = bind9.diff_records([["www", "A", 3600, "10.0.0.1"]], [["www", "A", 3600, "10.0.0.2"]])
    assert diff == {"added": ["www 3600 A 10.0.0.2"], "removed": ["www 3600 A 10.0.0.1"]}


# ---- dynamic zones -------------------------------------------------------------------------------------


def test_records_added_by_dynamic_update_survive_a_state_run():
    declared = zone_of()
    live = declared + [("app3", "A", 300, "10.77.0.43"), ("_webdav._tcp", "SRV", 300, "0 10 443 app3")]
    merged = bind9._merge_dynamic(live, declared, declared)
    assert ("app3", "A", 300, "10.77.0.43") in merged
    assert ("_webdav._tcp", "SRV", 300, "0 10 443 app3") in merged


def test_a_record_dropped_from_pillar_is_removed_but_dynamic_ones_stay():
    previous = zone_of()
    declared = zone_of(RECORDS[1:])  # ns1 A no longer declared... but ns1 is the nameserver:
    live = previous + [("dyn", "A", 300, "10.77.0.50")]
    merged = bind9._merge_dynamic(live, previous, declared)
    assert ("ns1", "A", 3600, "10.77.0.11") not in merged
    assert ("dyn", "A", 300, "10.77.0.50") in merged


def test_without_a_record_of_the_last_declaration_every_live_record_is_kept():
    live = zone_of() + [("old", "A", 3600, "10.77.0.8")]
    merged = bind9._merge_dynamic(live, [], zone_of(RECORDS[:2]))
    assert ("old", "A", 3600, "10.77.0.8") in merged and ("motd", "TXT", 60, '"hello world"') in merged


def test_apex_soa_and_ns_always_come_from_the_declaration():
    live = zone_of() + [("@", "NS", 3600, "ns9.other.org.")]
    merged = bind9._merge_dynamic(live, [], zone_of())
    assert [r for r in merged if r[1] == "NS"] == [("@", "NS", 3600, "ns1")]
    assert [r[3] for r in merged if r[1] == "SOA"] == [bind9._soa_of(zone_of())[3]]


# ---- validation ----------------------------------------------------------------------------------------


def test_a_complete_zone_is_valid():
    assert bind9._validate(zone_of(), ORIGIN) == []


@pytest.mark.parametrize(
    "records,problem",
    [
        ([r for r in RECORDS if r["name"] != "ns1"], "NS target ns1"),
        (RECORDS + [{"name": "_x._tcp", "type": "SRV", "data": "0 0 80 nowhere"}], "SRV target nowhere"),
        (RECORDS + [{"name": "@", "type": "MX", "data": "5 mx"}], "MX target mx"),
        (RECORDS + [{"name": "c", "type": "CNAME", "data": "missing"}], "CNAME target missing"),
    ],
)
def test_broken_zones_are_named(records, problem):
    problems = bind9._validate(zone_of(records), ORIGIN)
    assert any(problem in p for p in problems), problems


def test_a_cname_beside_other_data_is_refused_not_silently_dropped():
    with pytest.raises(ValueError, match="www has a CNAME beside other data"):
        zone_of(RECORDS + [{"name": "www", "type": "A", "data": "10.0.0.1"}])
    assert bind9._validate(
        [
            ("@", "SOA", 1, "ns1 h 1 1 1 1 1"),
            ("@", "NS", 1, "ns.o."),
            ("x", "CNAME", 1, "y.o."),
            ("x", "TXT", 1, '"t"'),
        ],
        ORIGIN,
    ) == ["x has a CNAME beside other data (CNAME, TXT)"]


def test_targets_outside_the_zone_and_srv_no_service_are_fine():
    extra = [
        {"name": "_none._tcp", "type": "SRV", "data": "0 0 0 ."},
        {"name": "ext", "type": "CNAME", "data": "cdn.other.org."},
    ]
    assert bind9._validate(zone_of(RECORDS + extra), ORIGIN) == []


def test_missing_apex_records_are_named():
    assert bind9._validate([("www", "A", 3600, "10.0.0.1")], ORIGIN) == [
        "zone example.lab has no SOA at the apex",
        "zone example.lab has no NS at the apex",
    ]
