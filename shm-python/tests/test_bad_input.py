"""Bad input: clear exceptions, nothing created, nothing changed."""

import pytest

import shm

ALL_ERRORS = [
    "CreateError", "AlreadyExists", "OpenError", "NotFound", "LayoutMismatch", "KindMismatch", "RoleTaken",
    "InvalidHandle", "InvalidName", "ReadError", "WriteError", "TooLarge", "RingError", "Full", "Timeout",
    "Closed", "PeerDead", "Corrupt", "ArrayError", "WrongSide", "CleanupError", "CleanedUp",
]


def test_every_exception_is_an_shm_error():
    for name in ALL_ERRORS:
        cls = getattr(shm, name)
        assert issubclass(cls, shm.Error) and cls.__module__ == "shm", name
    assert issubclass(shm.Error, Exception)
    assert issubclass(shm.Full, shm.RingError) and issubclass(shm.NotFound, shm.OpenError)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage",
        "shm1:int:nothex:8:00:shmrs-x",
        "shm1:int:0123456789abcdef:8:0123456789abcdef:a/b",
        "shm2:int:0123456789abcdef:8:0123456789abcdef:shmrs-x",
        "shm1:int:0123456789abcdef:8:0123456789abcdef:" + "x" * 300,
    ],
)
def test_garbage_handles(text):
    for cls in (shm.SharedInt, shm.SharedBool, shm.SharedString, shm.SharedBytes):
        with pytest.raises(shm.InvalidHandle) as err:
            cls.load_sharedobject(text)
        assert str(err.value), "the message says what is wrong"
    with pytest.raises(shm.InvalidHandle):
        shm.ByteRing.load_memorybuf(text)
    with pytest.raises(shm.InvalidHandle):
        shm.BytesArray.load_sharedobject(text, 4)


def test_handle_of_another_kind_or_tampered():
    with shm.SharedInt(1) as n:
        with pytest.raises((shm.KindMismatch, shm.LayoutMismatch)) as err:
            shm.SharedString.load_sharedobject(n.handle.replace(":int:", ":string:"))
        assert n.name in str(err.value)
        with pytest.raises(shm.OpenError):
            shm.SharedBool.load_sharedobject(n.handle)
        tampered = n.handle[:-1] + ("0" if n.handle[-1] != "0" else "1")
        with pytest.raises(shm.OpenError):
            shm.SharedInt.load_sharedobject(tampered, timeout=0)
        with pytest.raises(TypeError):
            shm.SharedInt.load_sharedobject(12345)


def test_wrong_types_and_ranges():
    with shm.SharedInt() as n:
        with pytest.raises(TypeError):
            n.write("1")
        with pytest.raises(TypeError):
            n.write(1.5)
        with pytest.raises(OverflowError):
            n.write(2**63)
        assert n.read() == 0
    with shm.SharedString(4) as s:
        with pytest.raises(TypeError):
            s.write(b"bytes")
        with pytest.raises(shm.TooLarge):
            s.write("12345")
        with pytest.raises(shm.TooLarge):
            s.write("ééé")  # 6 bytes, 3 characters
        assert s.read() == ""
    with shm.SharedBytes(4) as b:
        with pytest.raises(TypeError):
            b.write("text")
        with pytest.raises(TypeError):
            b.write([1, 2])
    with pytest.raises(OverflowError):
        shm.SharedString(-1)
    with pytest.raises(shm.CreateError):
        shm.SharedBytes(0)
    with pytest.raises(shm.CreateError):
        shm.ByteRing.create_memorybuf(16, 0)
    with pytest.raises(shm.CreateError):
        shm.ByteRing.create_memorybuf(0, 4)


def test_bad_names_and_timeouts(unique_name):
    for bad in ["", "a/b", "x" * 256, ".hidden", "nul\0"]:
        with pytest.raises((shm.InvalidName, ValueError)):
            shm.SharedInt.create_named(bad)
    with shm.ByteRing.create_memorybuf(8, 2) as tx:
        rx = shm.ByteRing.load_memorybuf(tx.handle)
        for bad in (-1, float("nan")):
            with pytest.raises(ValueError):
                rx.read_blocking(timeout=bad)
        tx.write(b"x")
        assert rx.read_blocking(timeout=1e300) == b"x", "too long for a Duration: no limit"
        rx.cleanup()
    with pytest.raises(ValueError):
        shm.SharedInt.open(unique_name, timeout=-1)


def test_cleaned_up_objects_say_so():
    tx = shm.ByteRing.create_memorybuf(8, 2)
    tx.cleanup()
    with pytest.raises(shm.CleanedUp):
        tx.write(b"x")
    with pytest.raises(shm.CleanedUp):
        tx.handle
    assert "cleaned up" in repr(tx)
