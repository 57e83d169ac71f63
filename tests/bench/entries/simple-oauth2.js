// What a client-credentials user of simple-oauth2 imports (Node only: bundled for platform
// node, so Node's own http, https, querystring... are not counted).
export { ClientCredentials } from 'simple-oauth2';
