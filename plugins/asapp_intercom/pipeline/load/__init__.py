"""Upserts into Intercom, in dependency order, that a retry or a re-run can never duplicate: one loader
per object type, on the protocol of base.Loader."""

from __future__ import annotations

from asapp_intercom.domain.objects import ObjectType
from asapp_intercom.pipeline.load.attachments import AttachmentLoader
from asapp_intercom.pipeline.load.base import Loader, LoadSettings, TaskTry
from asapp_intercom.pipeline.load.companies import CompanyLoader
from asapp_intercom.pipeline.load.contacts import ContactLoader
from asapp_intercom.pipeline.load.conversations import ConversationLoader
from asapp_intercom.pipeline.load.tags import ConversationTagLoader

LOADERS: dict[ObjectType, type[Loader]] = {
    loader.object_type: loader
    for loader in (CompanyLoader, ContactLoader, ConversationLoader, AttachmentLoader, ConversationTagLoader)
}

__all__ = ["LOADERS", "LoadSettings", "Loader", "TaskTry"]
