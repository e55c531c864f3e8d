"""Safeguards: access control, audit log, disclosure control, bias audit, transparency.

Places and times only: nothing in crimemap predicts anything about a person.
"""

from crimemap.safeguards._tables import SAFEGUARD_TABLES, ensure_tables
from crimemap.safeguards.access import (
    ACTIONS,
    ALL_FORCES,
    ANONYMOUS,
    FORCE_SCOPED,
    Principal,
    Role,
    allowed,
    authenticate,
    authorise,
)
from crimemap.safeguards.annotations import (
    ANNOTATION_ACTIONS,
    Annotation,
    annotate,
    list_annotations,
)
from crimemap.safeguards.audit import (
    AUDITED_ACTIONS,
    GENESIS,
    AuditRow,
    AuditVerdict,
    audit_rows,
    chain_head,
    record,
    verify_chain,
)
from crimemap.safeguards.disclosure import (
    DisclosureError,
    DisclosurePolicy,
    PublicCounts,
    PublicTotal,
    assert_publishable,
    control,
    public_counts,
    public_total,
)
from crimemap.safeguards.fairness import (
    Concern,
    DecileTable,
    FairnessResult,
    Thresholds,
    decile_table,
    fairness_audit,
)
from crimemap.safeguards.fairness_report import write_fairness_report
from crimemap.safeguards.feedback import FeedbackConfig, FeedbackRun, simulate_feedback
from crimemap.safeguards.ratelimit import TokenBucketLimiter
from crimemap.safeguards.retention import RetentionReport, apply_retention, retention_cutoff
from crimemap.safeguards.session import (
    COOKIE_ATTRIBUTES,
    COOKIE_NAME,
    new_session_id,
    sign_session,
    verify_session,
)
from crimemap.safeguards.transparency import (
    NOT_PREDICTED,
    SWITCH_OFF_CONDITIONS,
    TransparencyRecord,
    build_record,
    record_markdown,
    write_record,
)
from crimemap.safeguards.users import UserInfo, add_user, issue_token, list_users, revoke_user

__all__ = [
    "ACTIONS",
    "ALL_FORCES",
    "ANNOTATION_ACTIONS",
    "ANONYMOUS",
    "AUDITED_ACTIONS",
    "COOKIE_ATTRIBUTES",
    "COOKIE_NAME",
    "FORCE_SCOPED",
    "GENESIS",
    "NOT_PREDICTED",
    "SWITCH_OFF_CONDITIONS",
    "TransparencyRecord",
    "build_record",
    "record_markdown",
    "write_record",
    "SAFEGUARD_TABLES",
    "Annotation",
    "AuditRow",
    "AuditVerdict",
    "Concern",
    "DecileTable",
    "FairnessResult",
    "FeedbackConfig",
    "FeedbackRun",
    "Thresholds",
    "decile_table",
    "fairness_audit",
    "simulate_feedback",
    "write_fairness_report",
    "DisclosureError",
    "DisclosurePolicy",
    "PublicCounts",
    "PublicTotal",
    "assert_publishable",
    "control",
    "public_counts",
    "public_total",
    "Principal",
    "RetentionReport",
    "Role",
    "TokenBucketLimiter",
    "UserInfo",
    "add_user",
    "allowed",
    "annotate",
    "list_annotations",
    "apply_retention",
    "audit_rows",
    "authenticate",
    "authorise",
    "chain_head",
    "ensure_tables",
    "issue_token",
    "list_users",
    "new_session_id",
    "record",
    "retention_cutoff",
    "revoke_user",
    "sign_session",
    "verify_chain",
    "verify_session",
]
