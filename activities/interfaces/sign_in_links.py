"""What the workflows may know of ``activities.sign_in_links``: names and types, no implementation."""

from temporalio import activity

from models.sign_in_links import SignInLinkRequest


class SignInLinkActivities:
    @activity.defn
    async def send_sign_in_link(self, request: SignInLinkRequest) -> bool:
        ...
