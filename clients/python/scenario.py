#!/usr/bin/env python3
"""Run the lead-to-customer scenario against a running Leadflow suite.

The script generates Python code from the contracts in proto/ with grpc_tools.protoc into a
temporary folder. Then it walks one new lead through the funnel: UpsertLead, three activities
worth 57 points under the default scoring model (threshold 50), the MQL queue, AcceptLead
with BANT, CloseLead as won and GetFunnel. It also checks the error model: an invalid e-mail
address sent with `accept-language: ro-RO` must return INVALID_ARGUMENT whose
google.rpc.Status contains a BadRequest for `email` and a LocalizedMessage in ro-RO.

Addresses come from LEADFLOW_ACTIVITY_ADDR, LEADFLOW_SCORING_ADDR and
LEADFLOW_QUALIFICATION_ADDR (host:port or http://host:port, plaintext). The exit status is 0
when every check passed and 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import grpc
import grpc_tools
from grpc_tools import protoc

# Deadline of every single call, in seconds. Single-lead calls take milliseconds on a local
# suite, so 5 s only trips on a hung server.
CALL_TIMEOUT_S = 5.0
# How long the lead may take to reach the MQL queue, in seconds. Activities travel from the
# activity service through scoring to qualification by outbox relays.
DEFAULT_MQL_WAIT_S = 30.0
POLL_INTERVAL_S = 0.5
FUNNEL_STAGES = ("lead", "mql", "sql", "won")

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


class CheckFailed(Exception):
    """A response that the scenario did not expect."""


def require(condition: bool, message: str) -> None:
    """Raise CheckFailed with `message` unless `condition` is true."""
    if not condition:
        raise CheckFailed(message)


def read_address(variable: str) -> str:
    """Return the host:port in environment variable `variable`, or exit with a usage error.

    The `leadflow` CLI reads the same variables as URLs, so an `http://` prefix is dropped.
    """
    address = os.environ.get(variable, "").strip().removeprefix("http://").rstrip("/")
    if not address:
        sys.exit(f"{variable} is not set; set it to the host:port of the service, for example 127.0.0.1:50051")
    return address


def generate_code(proto_dir: Path, out_dir: Path) -> None:
    """Generate the *_pb2 and *_pb2_grpc modules of every .proto file under `proto_dir`.

    The include path has grpc_tools' bundled well-known types (google/protobuf/*.proto),
    so protoc needs nothing installed on the machine.
    """
    well_known_dir = Path(grpc_tools.__file__).parent / "_proto"
    proto_files = sorted(str(path.relative_to(proto_dir)) for path in proto_dir.rglob("*.proto"))
    if not proto_files:
        sys.exit(f"no .proto files found under {proto_dir}; pass --proto-dir DIR")

    arguments = [
        "grpc_tools.protoc",
        f"--proto_path={proto_dir}",
        f"--proto_path={well_known_dir}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *proto_files,
    ]
    exit_code = protoc.main(arguments)
    if exit_code != 0:
        sys.exit(f"grpc_tools.protoc failed with exit code {exit_code} on {proto_dir}")


@dataclass
class Contracts:
    """Generated message and stub modules, loaded after code generation."""

    activity: object
    activity_grpc: object
    qualification: object
    qualification_grpc: object
    types: object


def load_contracts(out_dir: Path) -> Contracts:
    """Import the generated modules from `out_dir`."""
    sys.path.insert(0, str(out_dir))
    return Contracts(
        activity=importlib.import_module("leadflow.activity.v1.activity_pb2"),
        activity_grpc=importlib.import_module("leadflow.activity.v1.activity_pb2_grpc"),
        qualification=importlib.import_module("leadflow.qualification.v1.qualification_pb2"),
        qualification_grpc=importlib.import_module("leadflow.qualification.v1.qualification_pb2_grpc"),
        types=importlib.import_module("leadflow.type.v1.types_pb2"),
    )


def open_channel(address: str) -> grpc.Channel:
    """Open a plaintext channel and wait up to CALL_TIMEOUT_S for it to connect."""
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        channel.close()
        sys.exit(f"could not connect to {address} within {CALL_TIMEOUT_S} s; is the suite running?")
    return channel


@dataclass
class Report:
    """Outcome of each named check, printed as the summary."""

    results: list[tuple[str, bool, str]] = field(default_factory=list)

    def run(self, name: str, check: Callable[[], object]) -> object | None:
        """Run `check`, record PASS or FAIL under `name`, and return its result (None on failure)."""
        try:
            result = check()
        except (CheckFailed, grpc.RpcError) as error:
            detail = describe_error(error)
            self.results.append((name, False, detail))
            print(f"FAIL {name}: {detail}", flush=True)
            return None
        self.results.append((name, True, ""))
        print(f"PASS {name}", flush=True)
        return result

    def skip(self, name: str, reason: str) -> None:
        """Record `name` as failed because an earlier step it depends on failed."""
        self.results.append((name, False, reason))
        print(f"FAIL {name}: {reason}", flush=True)

    def last_passed(self) -> bool:
        return self.results[-1][1]

    def failed_count(self) -> int:
        return sum(1 for _, passed, _ in self.results if not passed)

    def print_summary(self) -> None:
        passed = len(self.results) - self.failed_count()
        print(f"python scenario: {passed} passed, {self.failed_count()} failed", flush=True)


def describe_error(error: Exception) -> str:
    """Return a one-line description of a failed check or a failed RPC."""
    if isinstance(error, grpc.RpcError) and isinstance(error, grpc.Call):
        return f"RPC failed with {error.code().name}: {error.details()}"
    return str(error)


class Scenario:
    """The steps of the funnel walk, sharing the lead they create."""

    def __init__(self, contracts: Contracts, activity_channel: grpc.Channel,
                 qualification_channel: grpc.Channel, mql_wait_s: float) -> None:
        self.pb = contracts
        self.activity = contracts.activity_grpc.ActivityServiceStub(activity_channel)
        self.qualification = contracts.qualification_grpc.QualificationServiceStub(qualification_channel)
        self.mql_wait_s = mql_wait_s
        self.run_id = uuid.uuid4().hex[:12]
        self.email = f"scenario-{self.run_id}@example.com"
        self.lead_id = ""

    def read_funnel(self) -> dict[str, int]:
        response = self.qualification.GetFunnel(
            self.pb.qualification.GetFunnelRequest(), timeout=CALL_TIMEOUT_S)
        return {stage.stage: stage.lead_count for stage in response.stages}

    def upsert_lead(self) -> None:
        response = self.activity.UpsertLead(
            self.pb.activity.UpsertLeadRequest(
                email=self.email,
                source="google",
                campaign="scenario",
                attributes={"job_title": "CTO", "country": "RO"},
                request_id=str(uuid.uuid4()),
            ),
            timeout=CALL_TIMEOUT_S,
        )
        require(response.created, f"UpsertLead returned created=false for new e-mail {self.email}")
        require(response.lead.email == self.email,
                f"UpsertLead stored e-mail {response.lead.email!r}, expected {self.email!r}")
        require(bool(response.lead.lead_id), "UpsertLead returned an empty lead_id")
        self.lead_id = response.lead.lead_id

    def track_activities(self) -> None:
        types = self.pb.types
        activities = [
            (types.ACTIVITY_TYPE_PAGE_VIEW, {"url": "/pricing"}),
            (types.ACTIVITY_TYPE_CONTENT_DOWNLOAD, {"asset_id": "buyers-guide"}),
            (types.ACTIVITY_TYPE_DEMO_REQUEST, {"url": "/demo"}),
        ]
        for index, (activity_type, properties) in enumerate(activities):
            response = self.activity.TrackActivity(
                self.pb.activity.TrackActivityRequest(
                    lead=self.pb.activity.LeadKey(lead_id=self.lead_id),
                    type=activity_type,
                    properties=properties,
                    idempotency_key=f"scenario-{self.run_id}-{index}",
                ),
                timeout=CALL_TIMEOUT_S,
            )
            type_name = types.ActivityType.Name(activity_type)
            require(response.created, f"TrackActivity {type_name} returned created=false")
            require(response.activity.lead_id == self.lead_id,
                    f"TrackActivity {type_name} stored lead {response.activity.lead_id!r}, "
                    f"expected {self.lead_id!r}")

    def find_in_queue(self) -> object | None:
        """Return the lead's queue entry, reading every page of ListQueue, or None."""
        page_token = ""
        while True:
            response = self.qualification.ListQueue(
                self.pb.qualification.ListQueueRequest(page_size=1000, page_token=page_token),
                timeout=CALL_TIMEOUT_S,
            )
            for entry in response.qualifications:
                if entry.lead_id == self.lead_id:
                    return entry
            if not response.next_page_token:
                return None
            page_token = response.next_page_token

    def wait_for_mql(self) -> None:
        deadline = time.monotonic() + self.mql_wait_s
        entry = self.find_in_queue()
        while entry is None and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
            entry = self.find_in_queue()
        require(entry is not None,
                f"lead {self.lead_id} did not appear in the MQL queue within {self.mql_wait_s} s")
        require(entry.state == self.pb.types.QUALIFICATION_STATE_NEW,
                f"queue entry has state {self.pb.types.QualificationState.Name(entry.state)}, expected NEW")
        require(entry.mql_score >= 50, f"queue entry has mql_score {entry.mql_score}, expected at least 50")

    def accept_lead(self) -> None:
        bant = self.pb.qualification.Bant(
            budget=self.pb.qualification.Budget(amount_minor=5_000_000, currency="EUR", confirmed=True),
            authority_role="CTO",
            need="Route inbound leads to sales within a day",
            timeframe="2027-Q1",
        )
        response = self.qualification.AcceptLead(
            self.pb.qualification.AcceptLeadRequest(
                lead_id=self.lead_id, bant=bant, request_id=str(uuid.uuid4())),
            timeout=CALL_TIMEOUT_S,
        )
        state = response.qualification.state
        require(state == self.pb.types.QUALIFICATION_STATE_SQL,
                f"AcceptLead left state {self.pb.types.QualificationState.Name(state)}, expected SQL")
        require(response.qualification.bant.timeframe == "2027-Q1",
                f"AcceptLead stored timeframe {response.qualification.bant.timeframe!r}, expected '2027-Q1'")

    def close_lead(self) -> None:
        response = self.qualification.CloseLead(
            self.pb.qualification.CloseLeadRequest(
                lead_id=self.lead_id,
                outcome=self.pb.types.OUTCOME_WON,
                value_minor=1_200_000,
                currency="EUR",
                request_id=str(uuid.uuid4()),
            ),
            timeout=CALL_TIMEOUT_S,
        )
        qualification = response.qualification
        require(qualification.state == self.pb.types.QUALIFICATION_STATE_WON,
                f"CloseLead left state {self.pb.types.QualificationState.Name(qualification.state)}, expected WON")
        require(qualification.value_minor == 1_200_000,
                f"CloseLead stored value_minor {qualification.value_minor}, expected 1200000")

    def check_funnel(self, before: dict[str, int]) -> None:
        """Check that every stage counts at least one lead more than before the scenario.

        Stage counts only grow, because each counts the leads that ever reached the stage. So
        the check stays valid while other clients use the same suite.
        """
        after = self.read_funnel()
        require(list(after) == list(FUNNEL_STAGES),
                f"GetFunnel returned stages {list(after)}, expected {list(FUNNEL_STAGES)}")
        for stage in FUNNEL_STAGES:
            require(after[stage] >= 1, f"funnel stage {stage} counts {after[stage]} leads, expected at least 1")
            require(after[stage] >= before.get(stage, 0) + 1,
                    f"funnel stage {stage} counts {after[stage]} leads, {before.get(stage, 0)} before the "
                    f"scenario; expected at least one more")

    def check_localized_error(self) -> None:
        """Send an invalid e-mail address in ro-RO and check the google.rpc.Status details."""
        from google.rpc import error_details_pb2
        from grpc_status import rpc_status

        try:
            self.activity.UpsertLead(
                self.pb.activity.UpsertLeadRequest(email="not-an-address"),
                metadata=(("accept-language", "ro-RO"),),
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.RpcError as error:
            call_error = error
        else:
            raise CheckFailed("UpsertLead accepted e-mail 'not-an-address'; expected INVALID_ARGUMENT")

        require(call_error.code() == grpc.StatusCode.INVALID_ARGUMENT,
                f"UpsertLead returned {call_error.code().name}, expected INVALID_ARGUMENT")
        status = rpc_status.from_call(call_error)
        require(status is not None, "the error has no grpc-status-details-bin trailer")
        require(status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0],
                f"google.rpc.Status has code {status.code}, expected 3 (INVALID_ARGUMENT)")

        bad_request = error_details_pb2.BadRequest()
        localized = error_details_pb2.LocalizedMessage()
        error_info = error_details_pb2.ErrorInfo()
        found = set()
        for detail in status.details:
            for name, message in (("BadRequest", bad_request), ("LocalizedMessage", localized),
                                  ("ErrorInfo", error_info)):
                if detail.Is(message.DESCRIPTOR):
                    detail.Unpack(message)
                    found.add(name)

        require("BadRequest" in found, "the status details have no google.rpc.BadRequest")
        fields = [violation.field for violation in bad_request.field_violations]
        require("email" in fields, f"BadRequest names fields {fields}, expected 'email'")

        require("LocalizedMessage" in found, "the status details have no google.rpc.LocalizedMessage")
        require(localized.locale == "ro-RO", f"LocalizedMessage has locale {localized.locale!r}, expected 'ro-RO'")
        require(bool(localized.message.strip()), "LocalizedMessage has an empty message")
        require(localized.message != status.message,
                f"LocalizedMessage repeats the English message {status.message!r}")

        require("ErrorInfo" in found, "the status details have no google.rpc.ErrorInfo")
        require(error_info.domain == "activity.leadflow",
                f"ErrorInfo has domain {error_info.domain!r}, expected 'activity.leadflow'")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proto-dir", type=Path, default=REPOSITORY_ROOT / "proto",
                        help="root of the contracts (default: proto/ of this repository)")
    parser.add_argument("--mql-wait", type=float, default=DEFAULT_MQL_WAIT_S,
                        help=f"seconds to wait for the lead to reach the MQL queue (default: {DEFAULT_MQL_WAIT_S})")
    return parser.parse_args()


def main() -> int:
    arguments = parse_arguments()
    activity_address = read_address("LEADFLOW_ACTIVITY_ADDR")
    # The scenario reaches scoring only through the activity service's events, but a suite
    # without a reachable scoring service can never produce an MQL, so it fails fast here.
    scoring_address = read_address("LEADFLOW_SCORING_ADDR")
    qualification_address = read_address("LEADFLOW_QUALIFICATION_ADDR")

    with tempfile.TemporaryDirectory(prefix="leadflow-python-") as out_dir:
        generate_code(arguments.proto_dir.resolve(), Path(out_dir))
        contracts = load_contracts(Path(out_dir))

        activity_channel = open_channel(activity_address)
        open_channel(scoring_address).close()
        qualification_channel = open_channel(qualification_address)

        scenario = Scenario(contracts, activity_channel, qualification_channel, arguments.mql_wait)
        report = Report()
        print(f"lead e-mail: {scenario.email}", flush=True)

        funnel_before = report.run("GetFunnel before the scenario", scenario.read_funnel)
        steps = [
            ("UpsertLead creates the lead", scenario.upsert_lead),
            ("TrackActivity page view, content download, demo request", scenario.track_activities),
            ("ListQueue shows the lead as a NEW MQL", scenario.wait_for_mql),
            ("AcceptLead with BANT makes it an SQL", scenario.accept_lead),
            ("CloseLead as won", scenario.close_lead),
            ("GetFunnel counts the lead in every stage",
             lambda: scenario.check_funnel(funnel_before or {})),
        ]
        failed_step = ""
        for name, step in steps:
            if failed_step:
                report.skip(name, f"not run because '{failed_step}' failed")
                continue
            report.run(name, step)
            if not report.last_passed():
                failed_step = name

        report.run("INVALID_ARGUMENT carries BadRequest and ro-RO LocalizedMessage",
                   scenario.check_localized_error)

        activity_channel.close()
        qualification_channel.close()

    report.print_summary()
    return 1 if report.failed_count() else 0


if __name__ == "__main__":
    sys.exit(main())
