package govlake.checks;

import org.apache.spark.sql.api.java.UDF3;

/** Spark function (value, entity types, check organisation code) -> reason or null. */
public final class UsccReason implements UDF3<String, String, Boolean, String> {
  private static final long serialVersionUID = 1L;

  @Override
  public String call(String value, String entityTypes, Boolean orgCheck) {
    return IdentifierChecks.usccReason(
        IdentifierChecks.normalize(value),
        EntityTypes.of(entityTypes),
        Boolean.TRUE.equals(orgCheck));
  }
}
