"""Audit actions of uploads and documents."""

from ballast.tenants.audit import register_actions

register_actions(
    {
        "upload.intent_created": "An upload intent was created (direct or relay), with its signed limits.",
        "upload.received": "The bytes of an upload arrived in storage (relay or direct).",
        "upload.finalized": "An upload was verified and became a document.",
        "upload.failed": "An upload failed verification (size, type, checksum or missing object).",
        "upload.expired": "An upload intent passed its expiry before it was finalized.",
        "upload.cleaned": "The cleanup job removed an expired intent's object.",
        "upload.replay_deleted": "What a spent direct policy stored after its upload ended was deleted.",
        "upload.orphan_deleted": "The cleanup job deleted a tmp/ object that no intent knows.",
        "document.created": "A document was created from a finalized upload.",
        "document.trashed": "A document was moved to the trash.",
        "document.restored": "A document was restored from the trash.",
        "document.purged": "A document's object was deleted; its tombstone row remains.",
    }
)
