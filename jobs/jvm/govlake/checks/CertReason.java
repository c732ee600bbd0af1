package govlake.checks;

import org.apache.spark.sql.api.java.UDF3;

/** Spark function (value, entity types, check issuer's organisation code) -> reason or null. */
public final class CertReason implements UDF3<String, String, Boolean, String> {
  private static final long serialVersionUID = 1L;

  @Override
  public String call(String value, String entityTypes, Boolean orgCheck) {
    return IdentifierChecks.certReason(
        IdentifierChecks.normalize(value),
        EntityTypes.of(entityTypes),
        Boolean.TRUE.equals(orgCheck));
  }
}
