// What a client-credentials user of oauth4webapi imports.
export { ClientSecretBasic, clientCredentialsGrantRequest, processClientCredentialsResponse } from 'oauth4webapi';
