package obs

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
)

// sdkResource names the service in every span: service.name catalogd unless OTEL_SERVICE_NAME
// or OTEL_RESOURCE_ATTRIBUTES say otherwise (the environment's come last, so they win).
func sdkResource(version, host string) *resource.Resource {
	own := []attribute.KeyValue{
		attribute.String("service.name", "catalogd"),
		attribute.String("service.version", version),
		attribute.String("host.name", host),
	}
	r, err := resource.New(context.Background(), resource.WithAttributes(own...), resource.WithTelemetrySDK(), resource.WithFromEnv())
	if err != nil {
		return resource.NewSchemaless(own...)
	}
	return r
}
