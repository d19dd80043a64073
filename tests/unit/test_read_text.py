"""Files a user hands iam are read as UTF-8; what is not says where (`iam.documents.read_text`)."""

from pathlib import Path

import pytest

from iam.documents import read_text
from iam.errors import InputError


def test_the_byte_named_is_counted_from_the_start_of_the_file_even_after_a_bom(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes(b"\xef\xbb\xbfhr_id\r\nE1,Ren\xe9e\r\n")
    with pytest.raises(InputError, match=r"feed.csv: cannot read the HR feed: byte 16 \(0xE9, line 2\)"):
        read_text(feed, "the HR feed", "utf-8-sig")


def test_text_reads_as_open_reads_it(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_bytes("\ufeffhr_id\r\nE1,Renée\rE2\n".encode())
    assert read_text(feed, "the HR feed", "utf-8-sig") == feed.read_text(encoding="utf-8-sig")
