using System.Numerics;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Operators.Curvature.Kfac;

namespace CurvNative.Operators.Curvature;

/// <summary>The curvature matrices one can ask for by name (the CLI's <c>--curvature</c>).</summary>
public enum CurvatureKind { Hessian, Ggn, EmpiricalFisher, FisherMc, Kfac, Ekfac }

/// <summary>Everything that selects and configures a curvature operator by name.</summary>
public sealed record CurvatureRequest
{
    public CurvatureKind Kind { get; init; }
    public int? BatchSize { get; init; }
    public int McSamples { get; init; } = 1;
    public int Seed { get; init; }

    /// <summary>KFAC/EKFAC only; defaults to <see cref="FisherType.MonteCarlo"/> as curvlinops.</summary>
    public FisherType FisherType { get; init; } = FisherType.MonteCarlo;
    public KfacApproximation Approximation { get; init; } = KfacApproximation.Expand;
    public IReadOnlyList<string>? ParameterNames { get; init; }
    public bool CheckDeterministic { get; init; } = true;

    /// <summary>The processes sharing the data set (<see cref="CurvatureOptions.Communicator"/>); one by default.</summary>
    public Distributed.Communicator Communicator { get; init; } = Distributed.Communicator.Single;

    /// <summary>Parses the names used on the command line: hessian, ggn, ef, fisher-mc, kfac, ekfac.</summary>
    public static CurvatureKind ParseKind(string name) => name switch
    {
        "hessian" => CurvatureKind.Hessian,
        "ggn" => CurvatureKind.Ggn,
        "ef" => CurvatureKind.EmpiricalFisher,
        "fisher-mc" => CurvatureKind.FisherMc,
        "kfac" => CurvatureKind.Kfac,
        "ekfac" => CurvatureKind.Ekfac,
        _ => throw new ArgumentException($"Unknown curvature '{name}'; expected one of hessian, ggn, ef, fisher-mc, kfac, ekfac."),
    };

    /// <summary>Parses type-2, mc, empirical, forward-only.</summary>
    public static FisherType ParseFisherType(string name) => name switch
    {
        "type-2" => FisherType.Type2,
        "mc" => FisherType.MonteCarlo,
        "empirical" => FisherType.Empirical,
        "forward-only" => FisherType.ForwardOnly,
        _ => throw new ArgumentException($"Unknown Fisher type '{name}'; expected one of type-2, mc, empirical, forward-only."),
    };

    /// <summary>Parses expand, reduce.</summary>
    public static KfacApproximation ParseApproximation(string name) => name switch
    {
        "expand" => KfacApproximation.Expand,
        "reduce" => KfacApproximation.Reduce,
        _ => throw new ArgumentException($"Unknown KFAC approximation '{name}'; expected expand or reduce."),
    };

    /// <summary>Builds the requested operator.</summary>
    public LinearOperator<T> Build<T>(Module<T> model, Loss<T> loss, DataSet<T> data) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var options = new CurvatureOptions { BatchSize = BatchSize, ParameterNames = ParameterNames, CheckDeterministic = CheckDeterministic, Communicator = Communicator };
        var kfac = new KfacOptions
        {
            FisherType = FisherType, Approximation = Approximation, McSamples = FisherType == FisherType.MonteCarlo ? McSamples : 1,
            Seed = Seed, BatchSize = BatchSize, ParameterNames = ParameterNames, CheckDeterministic = CheckDeterministic, Communicator = Communicator,
        };
        return Kind switch
        {
            CurvatureKind.Hessian => new HessianOperator<T>(model, loss, data, options),
            CurvatureKind.Ggn => new GgnOperator<T>(model, loss, data, options),
            CurvatureKind.EmpiricalFisher => new EmpiricalFisherOperator<T>(model, loss, data, options),
            CurvatureKind.FisherMc => new FisherMcOperator<T>(model, loss, data, McSamples, Seed, options),
            CurvatureKind.Kfac => new KfacOperator<T>(model, loss, data, kfac),
            _ => new EkfacOperator<T>(model, loss, data, kfac),
        };
    }
}
