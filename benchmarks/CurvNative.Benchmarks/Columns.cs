using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace CurvNative.Benchmarks;

/// <summary>Floating-point operations of one call of a benchmark method (GEMM work only).</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class FlopsAttribute(double flops) : Attribute
{
    public double Flops { get; } = flops;
}

/// <summary>GFLOP/s of benchmarks marked with [Flops], from the median time.</summary>
public class GflopsColumn : IColumn
{
    public virtual string Id => "GFLOPs";
    public virtual string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public virtual string Legend => "Achieved GFLOP/s (GEMM FLOPs of one call / median time)";
    public bool IsAvailable(Summary summary) => true;
    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public virtual string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        => Rate(summary, benchmarkCase) is { } r ? r.ToString("F1") : "-";

    protected static double? Rate(Summary summary, BenchmarkCase benchmarkCase)
    {
        var flops = benchmarkCase.Descriptor.WorkloadMethod.GetCustomAttribute<FlopsAttribute>()?.Flops;
        var ns = summary[benchmarkCase]?.ResultStatistics?.Median;
        return flops is null || ns is null or <= 0 ? null : flops.Value / ns.Value; // FLOP/ns = GFLOP/s
    }
}

/// <summary>A benchmark's GFLOP/s as a fraction of the 1024³ sgemm rate measured in the same run.</summary>
public sealed class SgemmFractionColumn : GflopsColumn
{
    public override string Id => "SgemmFraction";
    public override string ColumnName => "of sgemm 1024³";
    public override string Legend => "GFLOP/s as a fraction of SgemmBenchmarks.Sgemm1024's GFLOP/s in this run";

    public override string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        var reference = summary.BenchmarksCases.FirstOrDefault(c => c.Descriptor.WorkloadMethod.Name == nameof(SgemmBenchmarks.Sgemm1024));
        if (reference is null || Rate(summary, reference) is not { } peak || Rate(summary, benchmarkCase) is not { } r) return "-";
        return (r / peak).ToString("P0");
    }
}
