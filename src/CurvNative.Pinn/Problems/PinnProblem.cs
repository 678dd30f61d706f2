using CurvNative.Autodiff;
using CurvNative.Tensors;

namespace CurvNative.Pinn.Problems;

/// <summary>
/// A PDE on the unit cube [0,1]^D with Dirichlet (and, for evolution equations, initial) data and a known solution u*:
/// interior residual L[u](x) - f(x), boundary residual u(x) - u*(x). The PINN losses and their Gauss-Newton structure
/// are built from these two residuals (<see cref="ResidualMap"/>).
/// </summary>
public abstract class PinnProblem
{
    /// <summary>The problem's name on the command line (<c>poisson2d</c>, ...).</summary>
    public abstract string Name { get; }

    /// <summary>D, the network's input width (space and, for evolution equations, time last).</summary>
    public abstract int Dimension { get; }

    /// <summary>The default hidden widths of the tanh MLP D -> hidden... -> 1.</summary>
    public abstract IReadOnlyList<int> DefaultHidden { get; }

    /// <summary>The default number of interior points per step.</summary>
    public virtual int DefaultInterior => 3000;

    /// <summary>The default number of boundary points per step.</summary>
    public virtual int DefaultBoundary => 500;

    /// <summary>A one-line statement of the PDE, its domain and its solution.</summary>
    public abstract string Description { get; }

    /// <summary>The known solution u*(x) (also the boundary and initial data).</summary>
    public abstract double Solution(ReadOnlySpan<double> x);

    /// <summary>The source f(x) of the interior equation L[u] = f.</summary>
    public abstract double Source(ReadOnlySpan<double> x);

    /// <summary>L[u] at the points X [N, D] as a node of the autodiff graph [N], differentiable in u's parameters
    /// (collapsed Taylor mode).</summary>
    public abstract Var<double> Operator(Func<Var<double>, Var<double>> u, Tensor<double> points);

    /// <summary>L[u] at the points [N] as values only (no graph recorded where the operator allows it): what loss
    /// evaluations such as the line search need.</summary>
    public virtual Tensor<double> OperatorValues(Func<Var<double>, Var<double>> u, Tensor<double> points) => Operator(u, points).Value;

    /// <summary>The number of boundary faces of the cube points are drawn on (all 2D faces; for evolution equations the
    /// spatial faces and the initial face t = 0).</summary>
    protected virtual int FaceCount => 2 * Dimension;

    /// <summary>Moves a uniform point of the cube onto face <paramref name="face"/> of <see cref="FaceCount"/>: face 2i
    /// sets x_i = 0, face 2i + 1 sets x_i = 1.</summary>
    protected virtual void PlaceOnFace(Span<double> x, int face) => x[face / 2] = face % 2;

    /// <summary>N points drawn uniformly in [0,1]^D.</summary>
    public Tensor<double> SampleInterior(Random rng, int n)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        var x = Tensor<double>.Uninitialized(n, Dimension);
        var s = x.Span;
        for (int i = 0; i < s.Length; i++) s[i] = rng.NextDouble();
        return x;
    }

    /// <summary>N points drawn uniformly on the boundary faces (every face has area 1, so a face is drawn uniformly,
    /// then a point uniformly on it).</summary>
    public Tensor<double> SampleBoundary(Random rng, int n)
    {
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        int d = Dimension;
        var x = Tensor<double>.Uninitialized(n, d);
        var s = x.Span;
        for (int p = 0; p < n; p++)
        {
            var row = s.Slice(p * d, d);
            for (int i = 0; i < d; i++) row[i] = rng.NextDouble();
            PlaceOnFace(row, rng.Next(FaceCount));
        }
        return x;
    }

    /// <summary>A function of the points' rows, [N].</summary>
    internal Tensor<double> Rows(Tensor<double> points, Func<ReadOnlySpan<double>, double> f)
    {
        int n = points.Shape[0], d = points.Shape[1];
        var result = Tensor<double>.Uninitialized(n);
        var x = points.Span;
        var r = result.Span;
        for (int p = 0; p < n; p++) r[p] = f(x.Slice(p * d, d));
        return result;
    }

    /// <summary>u* at the points [N, D], as [N].</summary>
    public Tensor<double> Solutions(Tensor<double> points) => Rows(CheckPoints(points), Solution);

    /// <summary>f at the points [N, D], as [N].</summary>
    public Tensor<double> Sources(Tensor<double> points) => Rows(CheckPoints(points), Source);

    private Tensor<double> CheckPoints(Tensor<double> points)
    {
        ArgumentNullException.ThrowIfNull(points);
        if (points.Rank != 2 || points.Shape[1] != Dimension)
            throw new ArgumentException($"{Name}: points must be [N, {Dimension}], got {Shape.Format(points.Shape)}.");
        return points;
    }

    /// <summary>The problems by name: poisson2d, poisson5d, poisson10d, heat4d, poisson100d.</summary>
    public static IReadOnlyList<string> Names { get; } = ["poisson2d", "poisson5d", "poisson10d", "heat4d", "poisson100d"];

    /// <summary>The problem called <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">An unknown name; the message lists the known ones.</exception>
    public static PinnProblem Create(string name) => name?.ToLowerInvariant() switch
    {
        "poisson2d" => new PoissonProblem(PoissonKind.SineProduct2d),
        "poisson5d" => new PoissonProblem(PoissonKind.CosineSum5d),
        "poisson10d" => new PoissonProblem(PoissonKind.Harmonic10d),
        "poisson100d" => new PoissonProblem(PoissonKind.SquaredNorm100d),
        "heat4d" => new HeatProblem(),
        _ => throw new ArgumentException($"unknown problem '{name}'; expected one of {string.Join(", ", Names)}."),
    };
}
