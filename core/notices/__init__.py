"""A user's notices (消息): what happened that she should know about, kept until she has
seen it. Any part of the engine or a plugin writes them through `service.notify`; the
storefront shows them at /account/notices with a count in the top bar, and the API at
/api/v1/me/notices."""
