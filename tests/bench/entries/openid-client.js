// What a client-credentials user of openid-client imports.
export { ClientSecretBasic, Configuration, clientCredentialsGrant } from 'openid-client';
