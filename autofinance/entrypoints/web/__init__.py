"""The aiohttp web app: the demo portal page, document and password-reset pages, the dev outbox
and the support console (`console/`). `app.create_app` builds it, `routes` lists every route,
`keys` names what views read from `request.app`."""
