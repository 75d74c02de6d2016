"""Contact verification and password recovery by code (PRODUCT §6; issue 17, 1-2)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from accounts_gql.api.context import Context
from accounts_gql.api.errors import (
    CodeExpired,
    Forbidden,
    InvalidCode,
    InvalidState,
    NotFound,
    TooManyAttempts,
    ValidationError,
)
from accounts_gql.api.mutations import input_id, payload
from accounts_gql.api.types.auth import settings_of
from accounts_gql.api.types.auth_mutations import caller_of
from accounts_gql.api.types.contact import Contact
from accounts_gql.services import recovery
from accounts_gql.services import verification as service
from accounts_gql.services.reads.rows import ContactRow
from accounts_gql.services.verification import VerificationSent

Info = strawberry.Info[Context, None]


@strawberry.input
class RequestContactVerificationInput:
    contact_id: strawberry.ID


@strawberry.input
class VerifyContactInput:
    contact_id: strawberry.ID
    code: str = strawberry.field(description="The 6 digits sent to the contact.")


@strawberry.input
class RequestPasswordResetInput:
    login: str = strawberry.field(description="A username or a verified email address.")


@strawberry.input
class ResetPasswordInput:
    login: str = strawberry.field(description="As given to requestPasswordReset.")
    code: str = strawberry.field(description="The 6 digits sent to the account's email.")
    new_password: str


@strawberry.type
class RequestContactVerificationSuccess:
    contact: Contact
    expires_at: datetime = strawberry.field(description="When the code sent stops working.")


@strawberry.type
class VerifyContactSuccess:
    contact: Contact


@strawberry.type
class RequestPasswordResetSuccess:
    message: str = strawberry.field(
        description="The same whether or not the login names an account."
    )


@strawberry.type
class ResetPasswordSuccess:
    message: str


RequestContactVerificationPayload = Annotated[
    RequestContactVerificationSuccess
    | NotFound
    | InvalidState
    | TooManyAttempts
    | ValidationError
    | Forbidden,
    strawberry.union("RequestContactVerificationPayload"),
]
VerifyContactPayload = Annotated[
    VerifyContactSuccess
    | InvalidCode
    | CodeExpired
    | TooManyAttempts
    | NotFound
    | InvalidState
    | ValidationError
    | Forbidden,
    strawberry.union("VerifyContactPayload"),
]
RequestPasswordResetPayload = Annotated[
    RequestPasswordResetSuccess | TooManyAttempts | ValidationError,
    strawberry.union("RequestPasswordResetPayload"),
]
ResetPasswordPayload = Annotated[
    ResetPasswordSuccess | InvalidCode | CodeExpired | TooManyAttempts | ValidationError,
    strawberry.union("ResetPasswordPayload"),
]


def _sent(sent: VerificationSent) -> RequestContactVerificationSuccess:
    return RequestContactVerificationSuccess(
        contact=sent.contact,
        expires_at=sent.expires_at,
    )


def _verified(row: ContactRow) -> VerifyContactSuccess:
    return VerifyContactSuccess(contact=row)


@strawberry.type
class VerificationMutations:
    @strawberry.mutation(
        description=(
            "Sends a one-time code to one of the caller's unverified contacts (through "
            "the notification service). Valid VERIFICATION_CODE_TTL seconds, a bounded "
            "number of tries; sending again is rate-limited (TooManyAttempts)."
        )
    )
    async def request_contact_verification(
        self, info: Info, input: RequestContactVerificationInput
    ) -> RequestContactVerificationPayload:
        ctx = info.context

        async def call() -> VerificationSent:
            contact_id = input_id(input.contact_id, "Contact", "contactId")
            return await service.request_contact_verification(
                ctx.db.write, settings_of(info), ctx.viewer, contact_id
            )

        return await payload(call, _sent)

    @strawberry.mutation(
        description=(
            "Verifies a contact with the code sent to it. A wrong or used code is "
            "InvalidCode, an old one CodeExpired, and after too many wrong tries "
            "TooManyAttempts (request a new code); none of them changes the contact."
        )
    )
    async def verify_contact(self, info: Info, input: VerifyContactInput) -> VerifyContactPayload:
        ctx = info.context

        async def call() -> ContactRow:
            contact_id = input_id(input.contact_id, "Contact", "contactId")
            return await service.verify_contact(ctx.db.write, ctx.viewer, contact_id, input.code)

        return await payload(call, _verified)

    @strawberry.mutation(
        description=(
            "Sends a password recovery code to the verified email of the account a "
            "username or verified email names. Answers the same whether or not there "
            "is such an account; throttled per login and per address."
        )
    )
    async def request_password_reset(
        self, info: Info, input: RequestPasswordResetInput
    ) -> RequestPasswordResetPayload:
        ctx = info.context
        return await payload(
            lambda: recovery.request_password_reset(
                ctx.db.write, settings_of(info), login=input.login, caller=caller_of(info)
            ),
            lambda message: RequestPasswordResetSuccess(message=message),
        )

    @strawberry.mutation(
        description=(
            "Sets a new password with a recovery code (the rules of changePassword) "
            "and ends every session of the account; sign in afterwards."
        )
    )
    async def reset_password(self, info: Info, input: ResetPasswordInput) -> ResetPasswordPayload:
        ctx = info.context
        return await payload(
            lambda: recovery.reset_password(
                ctx.db.write,
                settings_of(info),
                login=input.login,
                code=input.code,
                new_password=input.new_password,
            ),
            lambda message: ResetPasswordSuccess(message=message),
        )
