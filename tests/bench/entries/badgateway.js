// What a client-credentials user of @badgateway/oauth2-client imports: the client and the
// caching fetch wrapper (OAuth2Fetch.getToken()).
export { OAuth2Client, OAuth2Fetch } from '@badgateway/oauth2-client';
