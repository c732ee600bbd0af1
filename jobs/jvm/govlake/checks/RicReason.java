package govlake.checks;

import org.apache.spark.sql.api.java.UDF3;

/** Spark function (value, today as yyyyMMdd, address prefixes) -> reason or null. */
public final class RicReason implements UDF3<String, String, String, String> {
  private static final long serialVersionUID = 1L;

  @Override
  public String call(String value, String today, String prefixes) {
    return IdentifierChecks.ricReason(
        IdentifierChecks.normalize(value), today, AddressPrefixes.of(prefixes));
  }
}
