"""`safe-local serve` on the command line: one-line errors before anything loads, and the warning
for an address other machines can reach without a key."""

from __future__ import annotations

import socket

import pytest

from safe_local.cli import main
from safe_local.commands.serve import exposure_warning


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_warning(host):
    assert exposure_warning(host, None) is None


# exposure_warning only reads the address: nothing binds to these hosts or looks them up, and
# the outside ones are reserved for documentation (RFC 5737 TEST-NET-1, RFC 6761 .example).
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.20", "myhost.example"])
def test_other_addresses_without_a_key_are_warned_about(host):
    warning = exposure_warning(host, None)
    assert warning and host in warning and "--api-key" in warning
    assert exposure_warning(host, "secret") is None


def test_errors_are_one_line_before_any_model_loads(capsys):
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    cases = [
        (["serve", "--preset", "nope"], "unknown preset 'nope'"),
        (["serve", "--preset", "tiny", "--models", "smollm2-135m"], "not allowed with argument"),
        (["serve", "--models", "no-such-model", "--port", "0"], "unknown model 'no-such-model'"),
        (["serve", "--queue", "-1"], "--queue must be 0 or more"),
        (["serve", "--port", str(port)], f"cannot listen on 127.0.0.1:{port}"),
    ]
    try:
        for args, message in cases:
            assert main(args) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and message in err, err
    finally:
        taken.close()
