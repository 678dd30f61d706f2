using CurvNative.Native;
using CurvNative.Tensors;

namespace CurvNative.Pinn.Optimizers;

/// <summary>
/// The damped energy-natural-gradient direction phi = (J^T J + lambda I)^-1 J^T r (Müller and Zeinhofer 2023), computed
/// three ways: densely in parameter space, by the push-through (Woodbury) identity in sample space
/// phi = J^T (J J^T + lambda I)^-1 r (Guzmán-Cordero et al. 2025), and by a randomized Nyström sketch of the kernel.
/// </summary>
public static class NaturalGradient
{
    /// <summary>phi = (G + lambda I)^-1 J^T r with G = J^T J assembled densely (P x P: SYRK, Cholesky). O(N P^2 + P^3).</summary>
    public static (Tensor<double> Direction, DampedSolveMethod Method) Dense(ResidualLinearization lin, double lambda)
    {
        ArgumentNullException.ThrowIfNull(lin);
        CheckDamping(lambda);
        var g = lin.GramianMatrix();
        var rhs = lin.Gradient();
        var buffer = rhs.ToArray();
        var method = DampedSolve.Solve(g, lin.Columns, lambda, buffer);
        return (Tensor<double>.FromArray(buffer, lin.Columns), method);
    }

    /// <summary>phi = J^T (K + lambda I)^-1 r with the kernel K = J J^T (N x N: SYRK, Cholesky, push-through). O(N^2 P + N^3).</summary>
    /// <remarks>With a <paramref name="workspace"/> the kernel is assembled in its buffer (no N x N allocation).</remarks>
    public static (Tensor<double> Direction, DampedSolveMethod Method) Woodbury(ResidualLinearization lin, double lambda, StepWorkspace? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(lin);
        var (alpha, method) = KernelSolve(lin, lambda, lin.Residual.Span, workspace);
        return (lin.TransposeTimes(alpha), method);
    }

    /// <summary>alpha = (J J^T + lambda I)^-1 v [N] (the kernel in <paramref name="workspace"/>'s buffer when given).</summary>
    public static (double[] Alpha, DampedSolveMethod Method) KernelSolve(ResidualLinearization lin, double lambda, ReadOnlySpan<double> v, StepWorkspace? workspace = null)
    {
        ArgumentNullException.ThrowIfNull(lin);
        CheckDamping(lambda);
        if (v.Length != lin.Rows) throw new ArgumentException($"Expected a vector of {lin.Rows} entries, got {v.Length}.");
        var k = lin.KernelMatrix(workspace);
        var alpha = v.ToArray();
        var method = DampedSolve.Solve(k, lin.Rows, lambda, alpha);
        return (alpha, method);
    }

    /// <summary>
    /// Sketch-and-solve with the Cholesky-only randomized Nyström approximation of the kernel (Guzmán-Cordero et al.
    /// 2025, after Tropp et al. 2017): Omega [N, L] Gaussian, Y = K Omega = J (J^T Omega) (two GEMMs, K never formed),
    /// shift nu = sqrt(N) eps ||Y||_F, Y_nu = Y + nu Omega, core C = Omega^T Y_nu = L_C L_C^T (Cholesky; nu grown tenfold
    /// if C is not numerically positive definite), B = Y_nu L_C^-T, so K_hat = B B^T (= K + nu I when L = N). Then
    /// (K_hat + lambda I)^-1 r = (r - B (lambda I + B^T B)^-1 B^T r) / lambda (Woodbury, a second L x L Cholesky) and
    /// phi = J^T of it. Cost O(N P L + N L^2). Needs lambda &gt; 0.
    /// </summary>
    /// <returns>The direction, the shift nu, and how the second L x L system was solved.</returns>
    public static (Tensor<double> Direction, double Shift, DampedSolveMethod Method) Nystrom(ResidualLinearization lin, double lambda, int sketch, Random rng)
    {
        ArgumentNullException.ThrowIfNull(lin);
        ArgumentNullException.ThrowIfNull(rng);
        CheckDamping(lambda);
        if (!(lambda > 0)) throw new ArgumentOutOfRangeException(nameof(lambda), $"The Nyström solve needs a positive damping, got {lambda}.");
        int n = lin.Rows, p = lin.Columns;
        if (sketch < 1 || sketch > n) throw new ArgumentOutOfRangeException(nameof(sketch), $"The sketch size must be in [1, N = {n}], got {sketch}.");
        int l = sketch;
        var omega = new double[(long)n * l];
        for (long i = 0; i < omega.Length; i++) omega[i] = Gaussian(rng);
        var jtOmega = new double[(long)p * l];
        var js = lin.Jacobian.Span;
        Blas.Gemm(true, false, p, l, n, 1.0, js, p, omega, l, 0.0, jtOmega, l);
        var y = new double[(long)n * l];
        Blas.Gemm(false, false, n, l, p, 1.0, js, p, jtOmega, l, 0.0, y, l);
        double nu = Math.Sqrt(n) * 2.220446049250313e-16 * Math.Sqrt(CurvNative.Tensors.Reductions.Dot<double>(y, y));
        if (nu == 0) nu = double.Epsilon;
        double applied = 0;
        var core = new double[(long)l * l];
        for (int attempt = 0; ; attempt++)
        {
            for (long i = 0; i < y.Length; i++) y[i] += (nu - applied) * omega[i];
            applied = nu;
            Blas.Gemm(true, false, l, l, n, 1.0, omega, l, y, l, 0.0, core, l);
            for (int i = 0; i < l; i++)
                for (int j = 0; j < i; j++) core[(long)i * l + j] = 0.5 * (core[(long)i * l + j] + core[(long)j * l + i]);
            if (Lapack.TryCholesky<double>(l, core) == 0) break;
            if (attempt == 8) throw new InvalidOperationException($"The Nyström core stayed indefinite up to the shift nu = {nu:G3}.");
            nu *= 10;
        }
        Blas.SolveLowerTransposedRight<double>(n, l, core, y); // y = B
        var s = new double[(long)l * l];
        Blas.Syrk(true, l, n, 1.0, y, l, 0.0, s, l);
        DampedSolve.MirrorUpper(s, l);
        var r = lin.Residual.Span;
        var c = new double[l];
        Blas.Gemm(true, false, l, 1, n, 1.0, y, l, r, 1, 0.0, c, 1);
        var method = DampedSolve.Solve(s, l, lambda, c);
        var d = r.ToArray();
        Blas.Gemm(false, false, n, 1, l, -1.0, y, l, c, 1, 1.0, d, 1);
        for (int i = 0; i < n; i++) d[i] /= lambda;
        return (lin.TransposeTimes(d), nu, method);
    }

    /// <summary>A standard normal variate (Box-Muller).</summary>
    internal static double Gaussian(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    private static void CheckDamping(double lambda)
    {
        if (!(lambda >= 0) || double.IsInfinity(lambda)) throw new ArgumentOutOfRangeException(nameof(lambda), $"The damping must be finite and >= 0, got {lambda}.");
    }
}
