using CurvNative.Autodiff;
using CurvNative.Pde;
using CurvNative.Tensors;

namespace CurvNative.Pinn.Problems;

/// <summary>
/// The 4+1-d heat equation d_t u - (1/4) Delta_x u = 0 on [0,1]^4 x [0,1] with u* = exp(-t) sum_{i=1..4} sin(2 x_i)
/// as initial (t = 0) and boundary (spatial faces) data. Network input order (x_1, x_2, x_3, x_4, t). L[u] is the
/// weighted Laplacian with C = diag(1/4, 1/4, 1/4, 1/4, 0) (factor S = e_i / 2, collapsed Taylor mode) subtracted from
/// d_t u (first-order forward mode).
/// </summary>
public sealed class HeatProblem : PinnProblem
{
    private const int Space = 4;
    private readonly PdeOperator<double> _spatial;

    /// <summary>The problem.</summary>
    public HeatProblem()
    {
        var factor = Tensor<double>.Zeros(Dimension, Space);
        for (int i = 0; i < Space; i++) factor.Span[i * Space + i] = 0.5;
        _spatial = PdeOperator<double>.WeightedLaplacian(factor, Enumerable.Repeat(1.0, Space).ToArray());
    }

    /// <inheritdoc/>
    public override string Name => "heat4d";

    /// <inheritdoc/>
    public override int Dimension => Space + 1;

    /// <inheritdoc/>
    public override IReadOnlyList<int> DefaultHidden => [256, 256, 128, 128];

    /// <inheritdoc/>
    public override string Description => "d_t u - (1/4) Delta_x u = 0 on [0,1]^4 x [0,1], u* = exp(-t) sum_i sin(2 x_i) on the spatial faces and at t = 0";

    /// <inheritdoc/>
    public override double Solution(ReadOnlySpan<double> x)
    {
        double s = 0;
        for (int i = 0; i < Space; i++) s += Math.Sin(2 * x[i]);
        return Math.Exp(-x[Space]) * s;
    }

    /// <inheritdoc/>
    public override double Source(ReadOnlySpan<double> x) => 0;

    /// <summary>d_t u - (1/4) Delta_x u.</summary>
    public override Var<double> Operator(Func<Var<double>, Var<double>> u, Tensor<double> points)
    {
        int n = points.Shape[0];
        var laplacian = PdeOps.Apply(u, points, _spatial).Values;
        var gradient = PdeOps.InputGradient(u, points); // [N, D]
        var dt = F.GatherFlat(gradient, TimeIndex(n), [n]);
        return F.Sub(dt, laplacian);
    }

    private int[] TimeIndex(int n)
    {
        var index = new int[n];
        for (int p = 0; p < n; p++) index[p] = p * Dimension + Space;
        return index;
    }

    /// <summary>The 8 spatial faces and the initial face t = 0.</summary>
    protected override int FaceCount => 2 * Space + 1;

    /// <inheritdoc/>
    protected override void PlaceOnFace(Span<double> x, int face)
    {
        if (face == 2 * Space) x[Space] = 0;
        else x[face / 2] = face % 2;
    }
}
