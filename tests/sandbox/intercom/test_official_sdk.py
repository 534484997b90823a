"""The official Intercom Python SDK (python-intercom 5.0.1) works against the sandbox, unmodified.

The SDK is pointed at the sandbox with `base_url` and given an httpx client whose hook holds every
exchange to the OpenAPI description, like the other tests.
"""

from __future__ import annotations

import pytest
from intercom import (
    AdminReplyConversationRequest,
    ContactReplyIntercomUserIdRequest,
    CreateContactRequestWithEmail,
    CreateDataAttributeRequestOne,
    CreateOrUpdateCompanyRequest,
    Intercom,
    SingleFilterSearchRequest,
)
from intercom.conversations import CreateConversationRequestFrom
from intercom.core.api_error import ApiError

CREATED_AT = 1_577_836_800


@pytest.fixture
def sdk(sandbox, client):
    with client(sandbox) as http:
        yield Intercom(base_url=sandbox.url, token=sandbox.token, httpx_client=http)


def test_contact_lifecycle_through_the_sdk(sdk):
    sdk.data_attributes.create(
        request=CreateDataAttributeRequestOne(data_type="string", name="legacy_id", model="contact")
    )
    contact = sdk.contacts.create(
        request=CreateContactRequestWithEmail(
            email="sdk.user@example.com", name="Sdk User", custom_attributes={"legacy_id": "L-1"}
        )
    )
    assert contact.id and contact.custom_attributes == {"legacy_id": "L-1"}
    found = list(
        sdk.contacts.search(
            query=SingleFilterSearchRequest(field="email", operator="=", value="sdk.user@example.com")
        )
    )
    assert [item.id for item in found] == [contact.id]
    updated = sdk.contacts.update(contact.id, name="Renamed User")
    assert updated.name == "Renamed User"
    with pytest.raises(ApiError) as duplicate:
        sdk.contacts.create(request=CreateContactRequestWithEmail(email="SDK.USER@example.com"))
    assert duplicate.value.status_code == 409
    assert f"id={contact.id}" in duplicate.value.body["errors"][0]["message"]


def test_company_attached_to_a_contact_through_the_sdk(sdk):
    contact = sdk.contacts.create(request=CreateContactRequestWithEmail(email="sdk.member@example.com"))
    company = sdk.companies.create_or_update(
        request=CreateOrUpdateCompanyRequest(company_id="sdk-co", name="SDK Co")
    )
    attached = sdk.companies.attach_contact(contact.id, company_id=company.id)
    assert attached.id == company.id and attached.user_count == 1


def test_conversation_history_through_the_sdk(sdk):
    admin_id = sdk.admins.identify().id
    contact = sdk.contacts.create(request=CreateContactRequestWithEmail(email="sdk.talker@example.com"))
    message = sdk.conversations.create(
        from_=CreateConversationRequestFrom(type="user", id=contact.id),
        body="Where is my parcel?",
        created_at=CREATED_AT,
    )
    conversation_id = message.conversation_id
    sdk.conversations.reply(
        conversation_id,
        request=AdminReplyConversationRequest(
            message_type="comment", admin_id=admin_id, body="On its way", created_at=CREATED_AT + 60
        ),
    )
    sdk.conversations.reply(
        conversation_id,
        request=ContactReplyIntercomUserIdRequest(
            intercom_user_id=contact.id, body="Thanks!", created_at=CREATED_AT + 120
        ),
    )
    tag = sdk.tags.create(request={"name": "imported"})
    applied = sdk.tags.tag_conversation(conversation_id, tag_id=tag.id, admin_id=admin_id)
    assert applied.id == tag.id
    conversation = sdk.conversations.find(conversation_id)
    assert conversation.created_at == CREATED_AT
    parts = conversation.conversation_parts.conversation_parts
    assert [(part.created_at, part.author.type, part.body) for part in parts] == [
        (CREATED_AT + 60, "admin", "On its way"),
        (CREATED_AT + 120, "user", "Thanks!"),
    ]
    assert [item.id for item in conversation.tags.tags] == [tag.id]
