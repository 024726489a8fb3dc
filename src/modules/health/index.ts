// What other modules may use of the health module.
export { default as healthPlugin, type HealthPluginOptions } from './health.plugin.js';
export { HealthService } from './health.service.js';
export { ConsulRegistration, consulRegistrationFor } from './consul-registration.js';
export { httpProbe } from './http-probe.js';
