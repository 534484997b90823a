import io
import threading
from contextlib import contextmanager

import pytest
from asapp_intercom.domain.feeds import FeedFile, Partition
from asapp_intercom.pipeline.sources import HEAD_BYTES, READ_AHEAD, ReadAhead

PARTITION = Partition.parse("utterances", "dt=2026-11-02/hr=10/mi=00")


class SlowSource:
    """A channel whose files each take a round trip to open, and that records what is open."""

    channel = "slow"

    def __init__(self, contents: dict[str, bytes], failing: str | None = None):
        self.contents, self.failing = contents, failing
        self.open_now: set[str] = set()
        self.closed: list[str] = []
        self.second_began = threading.Event()

    @contextmanager
    def open(self, file: FeedFile):
        if file.name == "1.jsonl":
            self.second_began.set()
        if file.name == "0.jsonl":  # its bytes come only once the next file is being opened too
            assert self.second_began.wait(timeout=10), "the next file was not opened ahead"
        if file.name == self.failing:
            raise ConnectionError(f"{file.name}: connection reset")
        self.open_now.add(file.name)
        try:
            yield io.BytesIO(self.contents[file.name])
        finally:
            self.open_now.discard(file.name)
            self.closed.append(file.name)


def files(count: int) -> list[FeedFile]:
    return [FeedFile(PARTITION, f"{index}.jsonl", str(index)) for index in range(count)]


def read_whole(stream) -> bytes:
    data = b""
    while piece := stream.read(1 << 16):
        data += piece
    return data


def test_files_are_opened_ahead_of_their_turn_and_each_gives_its_whole_bytes_in_order():
    contents = {file.name: f"{file.name}\n".encode() * (index + 1) for index, file in enumerate(files(20))}
    contents["7.jsonl"] = b'{"a": 1}\n' * (HEAD_BYTES // 3)  # larger than what is read ahead
    source = SlowSource(contents)

    with ReadAhead(source, files(20)) as reader:
        read = []
        for file in files(20):
            with reader.open(file) as stream:
                read.append((file.name, read_whole(stream)))

    assert read == [(file.name, contents[file.name]) for file in files(20)]
    assert source.open_now == set() and sorted(source.closed) == sorted(contents)


def test_a_file_that_failed_to_open_ahead_fails_at_its_turn_and_what_was_read_ahead_is_closed():
    source = SlowSource({file.name: b"{}\n" for file in files(30)}, failing="2.jsonl")
    reader = ReadAhead(source, files(30))
    with reader.open(files(30)[0]) as stream:
        assert stream.read() == b"{}\n"
    with reader.open(files(30)[1]) as stream:
        assert stream.read() == b"{}\n"

    with pytest.raises(ConnectionError, match="2.jsonl: connection reset"), reader.open(files(30)[2]):
        pass
    reader.close()

    assert source.open_now == set()  # every file opened ahead and never read is closed
    assert len(source.closed) <= 2 + READ_AHEAD  # files past the read-ahead were never opened


def test_files_are_taken_in_the_order_given():
    reader = ReadAhead(SlowSource({file.name: b"" for file in files(3)}), files(3))
    second = files(3)[1]
    with pytest.raises(ValueError, match="1.jsonl asked for while .*0.jsonl"), reader.open(second):
        pass
    reader.close()
