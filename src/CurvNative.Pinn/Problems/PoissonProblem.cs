using CurvNative.Autodiff;
using CurvNative.Pde;
using CurvNative.Tensors;

namespace CurvNative.Pinn.Problems;

/// <summary>The Poisson problems of the ENGD papers (Müller and Zeinhofer 2023; Guzmán-Cordero et al. 2025).</summary>
public enum PoissonKind
{
    /// <summary>-Delta u = 2 pi^2 sin(pi x) sin(pi y) on [0,1]^2, u = 0 on the boundary; u* = sin(pi x) sin(pi y).</summary>
    SineProduct2d,
    /// <summary>-Delta u = pi^2 sum_i cos(pi x_i) on [0,1]^5, u = u* on the boundary; u* = sum_i cos(pi x_i).</summary>
    CosineSum5d,
    /// <summary>-Delta u = 0 on [0,1]^10, u = u* on the boundary; u* = sum_{i=1..5} x_{2i-1} x_{2i}.</summary>
    Harmonic10d,
    /// <summary>-Delta u = -200 on [0,1]^100, u = u* on the boundary; u* = ||x||^2.</summary>
    SquaredNorm100d,
}

/// <summary>-Delta u = f on [0,1]^D with Dirichlet data u = u*; L[u] = -Delta u by collapsed Taylor mode.</summary>
public sealed class PoissonProblem : PinnProblem
{
    private readonly PoissonKind _kind;
    private readonly PdeOperator<double> _laplacian;

    /// <summary>The problem of the given kind.</summary>
    public PoissonProblem(PoissonKind kind)
    {
        _kind = kind;
        Dimension = kind switch
        {
            PoissonKind.SineProduct2d => 2,
            PoissonKind.CosineSum5d => 5,
            PoissonKind.Harmonic10d => 10,
            PoissonKind.SquaredNorm100d => 100,
            _ => throw new ArgumentOutOfRangeException(nameof(kind), $"Unknown Poisson problem {kind}."),
        };
        _laplacian = PdeOperator<double>.Laplacian(Dimension);
    }

    /// <inheritdoc/>
    public override string Name => _kind switch
    {
        PoissonKind.SineProduct2d => "poisson2d",
        PoissonKind.CosineSum5d => "poisson5d",
        PoissonKind.Harmonic10d => "poisson10d",
        _ => "poisson100d",
    };

    /// <inheritdoc/>
    public override int Dimension { get; }

    /// <inheritdoc/>
    public override IReadOnlyList<int> DefaultHidden => _kind switch
    {
        PoissonKind.SineProduct2d => [64],
        PoissonKind.CosineSum5d => [64, 64, 48, 48],
        PoissonKind.Harmonic10d => [256, 256, 128, 128],
        _ => [768, 768, 512, 512],
    };

    /// <summary>poisson2d: 900 (the KFAC-for-PINNs setup); poisson100d: 100 (the best runs of rla-pinns); 3,000 otherwise.</summary>
    public override int DefaultInterior => _kind switch { PoissonKind.SineProduct2d => 900, PoissonKind.SquaredNorm100d => 100, _ => 3000 };

    /// <summary>poisson2d: 120; poisson100d: 50; 500 otherwise.</summary>
    public override int DefaultBoundary => _kind switch { PoissonKind.SineProduct2d => 120, PoissonKind.SquaredNorm100d => 50, _ => 500 };

    /// <inheritdoc/>
    public override string Description => _kind switch
    {
        PoissonKind.SineProduct2d => "-Delta u = 2 pi^2 sin(pi x) sin(pi y) on [0,1]^2, u = 0 on the boundary, u* = sin(pi x) sin(pi y)",
        PoissonKind.CosineSum5d => "-Delta u = pi^2 sum_i cos(pi x_i) on [0,1]^5, u = u* on the boundary, u* = sum_i cos(pi x_i)",
        PoissonKind.Harmonic10d => "-Delta u = 0 on [0,1]^10, u = u* on the boundary, u* = sum_{i=1..5} x_{2i-1} x_{2i}",
        _ => "-Delta u = -200 on [0,1]^100, u = u* on the boundary, u* = ||x||^2",
    };

    /// <inheritdoc/>
    public override double Solution(ReadOnlySpan<double> x)
    {
        switch (_kind)
        {
            case PoissonKind.SineProduct2d: return Math.Sin(Math.PI * x[0]) * Math.Sin(Math.PI * x[1]);
            case PoissonKind.CosineSum5d:
            {
                double s = 0;
                foreach (var v in x) s += Math.Cos(Math.PI * v);
                return s;
            }
            case PoissonKind.Harmonic10d:
            {
                double s = 0;
                for (int i = 0; i < 10; i += 2) s += x[i] * x[i + 1];
                return s;
            }
            default:
            {
                double s = 0;
                foreach (var v in x) s += v * v;
                return s;
            }
        }
    }

    /// <inheritdoc/>
    public override double Source(ReadOnlySpan<double> x) => _kind switch
    {
        PoissonKind.SineProduct2d => 2 * Math.PI * Math.PI * Solution(x),
        PoissonKind.CosineSum5d => Math.PI * Math.PI * Solution(x),
        PoissonKind.Harmonic10d => 0,
        _ => -2.0 * Dimension,
    };

    /// <summary>-Delta u (collapsed Taylor mode: 2 + D vectors per point).</summary>
    public override Var<double> Operator(Func<Var<double>, Var<double>> u, Tensor<double> points)
        => F.Scale(PdeOps.Apply(u, points, _laplacian).Values, -1.0);

    /// <summary>Points per chunk of <see cref="OperatorValues"/>: a fixed size (so the values do not depend on the thread
    /// count), small enough that the chunks of a 3,000-point batch keep two cores busy, large enough for the GEMMs.</summary>
    private const int ValueChunk = 512;

    /// <summary>-Delta u, values only (the Taylor sweep records no graph), in chunks that run in parallel.</summary>
    public override Tensor<double> OperatorValues(Func<Var<double>, Var<double>> u, Tensor<double> points)
    {
        var values = PdeOps.Evaluate(u, points, _laplacian, TaylorMode.Collapsed, ValueChunk);
        var span = values.Span;
        for (int i = 0; i < span.Length; i++) span[i] = -span[i];
        return values;
    }
}
