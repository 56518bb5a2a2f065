"""HTTPS inside the tunnel: a second popgated with a `[tls]` section, reached from the client namespace through
its WireGuard tunnel, with a throwaway CA and a certificate for the PoP's tunnel address made by `openssl`.

* curl with `--cacert` gets the model list; curl trusting only the system's CAs refuses the certificate;
* plain HTTP to the TLS port gets no HTTP response, only a closed connection;
* a non-peer still gets silence: not even a ServerHello;
* the official `openai` SDK, given the CA through its HTTP client, completes a chat, plain and streamed, and
  refuses the certificate without it;
* popgated refuses to start when the key is not the certificate's, naming the file.

popnetd's policy opens only the API port to peers, so the client reaches the second gateway's port through
`TunnelSteering` (see there); the demo's own gateway is untouched.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import pytest

from harness.demo import Demo
from harness.gateways import SecondGateway, free_port, second_gateway_config
from harness.probes import probe_silence
from harness.processes import describe, ns_python, ns_run, require, run
from harness.simulator import sim_text
from harness.steering import TunnelSteering

CURL_TIMEOUT = 15


@dataclass(frozen=True)
class PKI:
    """A throwaway CA and a server certificate for the tunnel address it signed."""

    ca: Path
    certificate: Path
    key: Path
    other_key: Path  # a key of the same kind that belongs to no certificate


def _openssl(*args: str, cwd: Path) -> None:
    result = run(["openssl", *args], timeout=30, cwd=cwd)
    assert result.returncode == 0, describe(result)


def make_pki(directory: Path, address: str) -> PKI:
    """CA (P-256, one day) → server key and certificate with IP SAN `address`, as a site's own CA would issue."""
    directory.mkdir(exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=popgate test CA", "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", "-new", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", f"/CN={address}",
             cwd=directory)
    (directory / "server.ext").write_text(
        f"subjectAltName = IP:{address}\nbasicConstraints = critical,CA:FALSE\n"
        "keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n"
    )
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "1", "-extfile", "server.ext", "-out", "server.pem", cwd=directory)
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "other.key",
             cwd=directory)
    for key in ("ca.key", "server.key", "other.key"):
        (directory / key).chmod(0o600)
    return PKI(directory / "ca.pem", directory / "server.pem", directory / "server.key", directory / "other.key")


def tunnel_address(demo: Demo) -> str:
    """The PoP's tunnel address, which the server certificate names."""
    return urlsplit(demo.api_url).hostname or ""


def tls_section(certificate: Path, key: Path) -> str:
    return f'\n[tls]\ncertificate_file = "{certificate}"\nprivate_key_file = "{key}"\n'


@dataclass(frozen=True)
class TLSGateway:
    demo: Demo
    pki: PKI
    url: str  # https://<tunnel address>:<port>, as the client dials it
    gateway: SecondGateway


@pytest.fixture
def pki(demo: Demo) -> Iterator[PKI]:
    require(shutil.which("openssl"), "openssl is not installed (`make deps`)")
    directory = demo.demo_dir / "tls-pki"  # under the demo's directory: `demo.sh down` removes any leftover
    try:
        yield make_pki(directory, tunnel_address(demo))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def tls_gateway(demo: Demo, pki: PKI) -> Iterator[TLSGateway]:
    """A second popgated with [tls] on a free port of the tunnel address, reachable from the client's tunnel."""
    require(shutil.which("nft"), "nft is not installed (`make deps`)")
    address = tunnel_address(demo)
    port = free_port(demo.pop_ns, address)
    config = second_gateway_config(Path(demo.config).read_text(), port,
                                   sections=tls_section(pki.certificate, pki.key))
    with SecondGateway(demo, "tls", config, port) as gateway, TunnelSteering(demo, port):
        yield TLSGateway(demo, pki, f"https://{address}:{port}", gateway)


def curl(demo: Demo, *args: str) -> subprocess.CompletedProcess[str]:
    """curl from the client namespace with the demo's API key."""
    return ns_run(demo.client_ns, ["curl", "-sS", "-m", str(CURL_TIMEOUT),
                                   "-H", f"Authorization: Bearer {demo.api_key}", *args], timeout=CURL_TIMEOUT + 10)


def test_curl_with_the_ca_gets_the_models_over_https(tls_gateway: TLSGateway) -> None:
    demo = tls_gateway.demo
    result = curl(demo, "--cacert", str(tls_gateway.pki.ca), "--fail-with-body",
                  "-w", "\n%{http_version} %{ssl_verify_result}", tls_gateway.url + "/v1/models")
    assert result.returncode == 0, describe(result)
    body, _, trailer = result.stdout.rpartition("\n")
    assert demo.model in {model["id"] for model in json.loads(body)["data"]}, body
    # curl offers h2 and http/1.1; the gateway's ALPN picks http/1.1, and the chain verified (0).
    assert trailer == "1.1 0", describe(result)


def test_curl_without_the_ca_refuses_the_certificate(tls_gateway: TLSGateway) -> None:
    result = curl(tls_gateway.demo, tls_gateway.url + "/v1/models")
    # 60: "SSL certificate problem" (the peer's certificate could not be verified against the known CAs).
    assert result.returncode == 60, describe(result)
    assert "certificate" in result.stderr, describe(result)


def test_plain_http_to_the_tls_port_gets_no_http_response(tls_gateway: TLSGateway) -> None:
    demo = tls_gateway.demo
    plain = tls_gateway.url.replace("https://", "http://", 1)
    request = (f"GET /v1/models HTTP/1.1\r\nHost: {urlsplit(plain).netloc}\r\n"
               f"Authorization: Bearer {demo.api_key}\r\n\r\n")
    result = probe_silence(demo.client_ns, plain, request, read_timeout=10)
    print(f"plain HTTP to the TLS port: {result}")
    # The failed handshake closes the connection at once; a TLS alert may precede the FIN, an HTTP status never.
    assert result["outcome"] in ("eof", "reset"), result
    assert "HTTP/" not in result["preview"], result
    # Nor is it worth an operator's attention: popgated logs nothing at error level (or above) for it.
    log = tls_gateway.gateway.log()
    assert not [line for line in log.splitlines() if line.split()[1:2] in (["error"], ["critical"])], log


def test_a_non_peer_gets_no_tls_handshake_only_silence(tls_gateway: TLSGateway) -> None:
    """The source is checked before TLS: a non-peer's ClientHello is never answered, not even by a ServerHello
    or an alert. The PoP itself is no peer, and popnetd's policy lets its loopback through to the listener."""
    demo = tls_gateway.demo
    host = urlsplit(tls_gateway.url).netloc
    result = ns_run(demo.pop_ns, ["openssl", "s_client", "-connect", host, "-CAfile", str(tls_gateway.pki.ca)],
                    timeout=30, input="")
    print(describe(result))
    assert "CONNECTED" in result.stdout, describe(result)  # the TCP connection was accepted: this was the listener
    assert "SSL handshake has read 0 bytes" in result.stdout, describe(result)


_SDK_SCRIPT = r"""
import json, ssl, sys
import openai
a = json.loads(sys.argv[1])
trusting = openai.DefaultHttpxClient(verify=ssl.create_default_context(cafile=a["ca"]))
client = openai.OpenAI(base_url=a["base_url"], api_key=a["api_key"], max_retries=0, timeout=30, http_client=trusting)
messages = [{"role": "user", "content": "hello"}]
out = {}
completion = client.chat.completions.create(model=a["model"], messages=messages)
out["content"] = completion.choices[0].message.content
out["completion_tokens"] = completion.usage.completion_tokens
pieces = []
for chunk in client.chat.completions.create(model=a["model"], messages=messages, stream=True):
    for choice in chunk.choices:
        pieces.append(choice.delta.content or "")
out["streamed"] = "".join(pieces)
untrusting = openai.OpenAI(base_url=a["base_url"], api_key=a["api_key"], max_retries=0, timeout=30)
try:
    untrusting.models.list()
    out["without_ca"] = None
except openai.APIConnectionError as error:
    out["without_ca"] = [type(error).__name__, repr(error.__cause__)]
print(json.dumps(out))
"""


def test_the_openai_sdk_completes_a_chat_plain_and_streamed_over_https(tls_gateway: TLSGateway) -> None:
    try:
        import openai  # noqa: F401  (the script imports it inside the namespace; this only checks it is there)
    except ImportError:
        openai = None
    require(openai is not None, "the openai package is not installed (`make deps`)")
    demo = tls_gateway.demo
    out = ns_python(demo.client_ns, _SDK_SCRIPT,
                    {"base_url": tls_gateway.url + "/v1", "api_key": demo.api_key, "model": demo.model,
                     "ca": str(tls_gateway.pki.ca)}, timeout=120)
    assert out["content"] == sim_text(), out
    assert out["streamed"] == sim_text(), out
    assert out["without_ca"] is not None, "the SDK accepted a certificate from a CA it was never given"
    assert "CERTIFICATE_VERIFY_FAILED" in out["without_ca"][1], out


def test_popgated_refuses_to_start_with_a_key_that_is_not_the_certificates(demo: Demo, pki: PKI) -> None:
    config_path = demo.demo_dir / "tls-pki" / "mismatch.toml"
    port = free_port(demo.pop_ns, tunnel_address(demo))
    config_path.write_text(second_gateway_config(Path(demo.config).read_text(), port,
                                                 sections=tls_section(pki.certificate, pki.other_key)))
    result = ns_run(demo.pop_ns, [str(demo.bin / "popgated"), "--config", str(config_path)], timeout=30)
    assert result.returncode != 0, describe(result)
    assert f"tls.private_key_file {pki.other_key} is not the private key of the certificate in {pki.certificate}" \
        in result.stderr, describe(result)
